"""`<command>` blocks (spec 2): what a response runs."""

from __future__ import annotations

from arconsole.config.element_options import ReadContext, read_options
from arconsole.config.executables import name_refusal
from arconsole.config.findings import quoted, space_hint
from arconsole.config.hints import suggest
from arconsole.config.model import Command, ConfigNode, Flavour
from arconsole.config.values import EXPECT_WORDS, expect_words

WAZUH_OPTIONS = ("name", "executable", "timeout_allowed", "extra_args", "expect")
OSSEC_OPTIONS = ("name", "executable", "timeout_allowed", "expect")


def read_command(block: ConfigNode, context: ReadContext) -> Command | None:
    """One `<command>`; None when it has no name (nothing can refer to it)."""
    findings = context.findings
    ossec = context.flavour is Flavour.OSSEC
    options = read_options(
        block, OSSEC_OPTIONS if ossec else WAZUH_OPTIONS, findings,
        elsewhere={"extra_args": "<extra_args> is a Wazuh option; OSSEC does not know it"}
        if ossec else None,
    )
    name = options.text("name")
    executable = options.text("executable")
    required = ("name", "executable", "expect") if ossec else ("name", "executable")
    absent = [option for option in required
              if not options.has(option) and option not in options.meant]
    if absent:
        needed = "a 'name', 'executable' and 'expect'" if ossec else "a 'name' and 'executable'"
        findings.error(
            "1280", block,
            f"Missing command options. You must specify {needed}.",
            "add " + ", ".join(f"<{option}>" for option in absent)
            + (" (OSSEC requires <expect>, even empty)" if "expect" in absent else ""),
        )
    if name == "":
        findings.warning("AR-EMPTY-NAME", options.last["name"],
                         "empty <name>: no <active-response> can use this command",
                         "give the command a name")
    if name is not None and name.startswith("!"):
        findings.error("1235", options.last["name"],
                       f"Invalid value for element 'name': {quoted(name)}.",
                       "names starting with '!' are reserved for ad-hoc commands of the API")
    timeout_allowed = _yes_no(options.text("timeout_allowed"), "timeout_allowed", options.last,
                              context)
    if executable is not None:
        _check_executable(executable, options.last["executable"], context)
    expect: tuple[str, ...] = ()
    expect_text = options.text("expect")
    if expect_text is not None:
        expect = _read_expect(expect_text, options.last["expect"], context)
    if name is None:
        return None
    executable_node = options.last.get("executable")
    return Command(
        name=name,
        executable=executable or "",
        timeout_allowed=timeout_allowed,
        line=block.line,
        column=block.column,
        extra_args=options.text("extra_args"),
        expect=expect,
        executable_line=executable_node.line if executable_node else 0,
        executable_column=executable_node.column if executable_node else 0,
    )


def _yes_no(text: str | None, name: str, nodes: dict[str, ConfigNode],
            context: ReadContext) -> bool:
    if text is None:
        return False  # the struct is zero-filled: no (spec 2)
    if text not in ("yes", "no"):
        context.findings.error("1235", nodes[name],
                               f"Invalid value for element '{name}': {quoted(text)}.",
                               space_hint(text) or "use yes or no")
    return text == "yes"


def _check_executable(executable: str, node: ConfigNode, context: ReadContext) -> None:
    """A file name in active-response/bin: never a path (spec 7.2, CVE-2022-40497), never a
    name the engine refuses (`executables.name_refusal`, the engine's own rule)."""
    findings = context.findings
    refusal = name_refusal(executable)
    if not executable.strip():
        findings.error("AR-EXEC-PATH", node, "empty <executable>: there is nothing to run",
                       "name a file of active-response/bin")
    elif "/" in executable or "\\" in executable or ".." in executable or executable == ".":
        findings.error(
            "AR-EXEC-PATH", node,
            f"<executable>{quoted(executable)}</executable> is a path; only a file name in "
            "active-response/bin is allowed ('..' and '/' are refused, as execd does)",
            "put the script in active-response/bin and give its file name only")
    elif refusal is not None:
        findings.error(
            "AR-EXEC-NAME", node, f"the engine refuses to run it: {refusal}",
            space_hint(executable) if name_refusal(executable.strip()) is None
            else "rename the script with visible characters only, and write the name on one line")
    elif executable != executable.strip():
        findings.warning("AR-EXEC-PATH", node,
                         f"<executable> '{quoted(executable)}' has spaces around the file name",
                         space_hint(executable))


def _read_expect(text: str, node: ConfigNode, context: ReadContext) -> tuple[str, ...]:
    findings = context.findings
    words = expect_words(text)
    if context.flavour is Flavour.WAZUH:
        consequence = (": responses fire even when the alert lacks the field, and the script "
                       "then fails" if words else " (deprecated since 4.2.0)")
        findings.warning(
            "AR-EXPECT", node, "<expect> is ignored by Wazuh 4.2 and later" + consequence,
            "remove <expect>, or judge with --flavour ossec for an OSSEC manager")
        return words
    unknown = [token for token in text.replace(",", " ").split()
               if not any(word in token.lower() for word in EXPECT_WORDS)]
    if unknown and not words:
        guess = suggest(unknown[0], EXPECT_WORDS)
        findings.warning(
            "AR-EXPECT-VALUE", node,
            f"<expect>{quoted(text)}</expect> names no field OSSEC knows: the command expects "
            "nothing, so the white list is not applied to it and no field is required",
            f"did you mean {guess}?" if guess else "use srcip, user or filename")
    return words
