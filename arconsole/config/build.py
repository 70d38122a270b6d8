"""Assemble a `Config` from parsed XML: roots, sections, commands, responses, white list."""

from __future__ import annotations

import re
from dataclasses import replace

from arconsole.config.commands import read_command
from arconsole.config.diagnostics import Diagnostic
from arconsole.config.element_options import BlockOptions, ReadContext
from arconsole.config.findings import Findings
from arconsole.config.hints import suggest
from arconsole.config.model import ActiveResponse, Command, Config, ConfigNode, Flavour, Role
from arconsole.config.responses import ResponseRead, read_response
from arconsole.config.validate import check_whole_file
from arconsole.config.white_list import read_white_list
from arconsole.config.xmlsource import ParsedXml

ROOT = "ossec_config"
# Sections analysisd and execd read for active response, checked for misspellings.
_OURS = ("active-response", "command", "global", "cluster", "client")
# Other sections a Wazuh or OSSEC ossec.conf may hold (not judged here).
_OTHERS = frozenset({
    "ruleset", "rules", "syscheck", "rootcheck", "alerts", "email_alerts", "database_output",
    "syslog_output", "agentless", "localfile", "remote", "client_buffer", "integration",
    "wodle", "labels", "logging", "socket", "sca", "vulnerability-detector",
    "vulnerability-detection", "indexer", "gcp-pubsub", "rule_test", "agent-upgrade",
    "task-manager", "fluent-forward", "auth", "reports", "github", "office365", "ms-graph",
    "anti_flooding", "osquery", "open-scap", "cis-cat", "syscollector", "docker-listener",
    "aws-s3", "azure-logs", "agent_config", "command_line", "agent-key-polling",
})


def build_config(parsed: ParsedXml, path: str, flavour: Flavour, role: Role | None) -> Config:
    findings = Findings(path)
    sections = _sections(parsed.roots, findings)
    detected = Role.AGENT if any(s.tag == "client" for s in sections) else Role.MANAGER
    context = ReadContext(flavour, role or detected, findings)
    for section in sections:
        _check_section_name(section, findings)
    commands = _commands(sections, context)
    reads = _responses(sections, commands, context)
    execd = check_whole_file(reads, commands, context)
    # Only analysisd reads <global>: an agent's white list means nothing.
    white_list = read_white_list(sections, context) if context.role is Role.MANAGER else []
    diagnostics = [*parsed.diagnostics, *findings.items]
    if flavour is Flavour.OSSEC:
        diagnostics = [_in_ossec_words(d) for d in diagnostics]
    return Config(
        path=path,
        flavour=flavour,
        role=context.role,
        commands=tuple(commands),
        responses=tuple(read.response for read in reads),
        white_list=tuple(white_list),
        node_name=_node_name(sections),
        repeated_offenders=execd.repeated_offenders,
        execd_disabled=execd.disabled,
        tree=parsed.roots,
        diagnostics=sort_diagnostics(diagnostics, path),
    )


def sort_diagnostics(diagnostics: list[Diagnostic], path: str) -> tuple[Diagnostic, ...]:
    """By line then column (stable), each with the config's path."""
    with_path = [d if d.path == path else _with_path(d, path) for d in diagnostics]
    return tuple(sorted(with_path, key=lambda d: (d.line, d.column)))


# Messages that name Wazuh for what both managers do (os_xml, analysisd's reading) say OSSEC
# when judging for OSSEC; those that contrast the two or name a Wazuh version stay as written.
_WAZUH_ONLY = re.compile(r"OSSEC|Wazuh (?:\d|versions?\b)")


def _in_ossec_words(diagnostic: Diagnostic) -> Diagnostic:
    def reword(text: str | None) -> str | None:
        if text is None or "Wazuh" not in text or _WAZUH_ONLY.search(text):
            return text
        return text.replace("Wazuh", "OSSEC")

    message, hint = reword(diagnostic.message), reword(diagnostic.hint)
    if message is diagnostic.message and hint is diagnostic.hint:
        return diagnostic
    return replace(diagnostic, message=message or "", hint=hint)


def _with_path(diagnostic: Diagnostic, path: str) -> Diagnostic:
    return Diagnostic(diagnostic.severity, diagnostic.code, diagnostic.message, diagnostic.line,
                      diagnostic.column, diagnostic.hint, path)


# Sections an active-response example pasted from the documentation is made of.
_FRAGMENT_SECTIONS = frozenset({"command", "active-response", "global", "cluster"})


def _sections(roots: tuple[ConfigNode, ...], findings: Findings) -> list[ConfigNode]:
    """The children of every `<ossec_config>` root, in file order (Wazuh reads them all)."""
    sections: list[ConfigNode] = []
    found = False
    if roots and all(r.tag in _FRAGMENT_SECTIONS for r in roots):
        # A fragment, such as an example pasted from the documentation: say that Wazuh would
        # not read it, and check its content as if it were inside <ossec_config>.
        findings.error("AR-NO-ROOT", roots[0],
                       f"no <{ROOT}> element: Wazuh would not read this file",
                       f"wrap the sections in <{ROOT}>...</{ROOT}>; their content is checked "
                       "below as if they were")
        return list(roots)
    for root in roots:
        if root.tag != ROOT:
            guess = suggest(root.tag, (ROOT,))
            findings.error("1230", root, f"Invalid element in the configuration: '{root.tag}'.",
                           f"did you mean <{guess}>?" if guess else
                           f"everything belongs inside <{ROOT}>...</{ROOT}>")
            continue
        found = True
        sections.extend(root.children)
    if not found and not roots:
        findings.warning("AR-EMPTY", (1, 1), f"no <{ROOT}> element: there is nothing to do",
                         f"an ossec.conf holds <{ROOT}>...</{ROOT}>")
    return sections


def _check_section_name(section: ConfigNode, findings: Findings) -> None:
    name = section.tag
    if name in _OURS or name in _OTHERS:
        return
    guess = suggest(name, _OURS, cutoff=0.8)
    if guess is not None:
        findings.error("1230", section, f"Invalid element in the configuration: '{name}'.",
                       f"did you mean <{guess}>?")


def _commands(sections: list[ConfigNode], context: ReadContext) -> list[Command]:
    commands: list[Command] = []
    first: Command | None = None
    for section in sections:
        if section.tag != "command":
            continue
        if not section.children:
            _empty_block(section, context)
            continue
        command = read_command(section, context)
        if command is not None:
            commands.append(command)
            first = first or command
    if first is not None and context.role is Role.AGENT:
        context.findings.info(
            "AR-AGENT-COMMAND", (first.line, first.column),
            "an agent does not use <command> blocks: the manager's ar.conf decides what runs")
    return commands


def _responses(sections: list[ConfigNode], commands: list[Command],
               context: ReadContext) -> list[ResponseRead]:
    reads: list[ResponseRead] = []
    first_of_name: dict[str, Command] = {}
    for command in commands:
        first_of_name.setdefault(command.name, command)
    for section in sections:
        if section.tag != "active-response":
            continue
        index = len(reads) + 1
        if not section.children:
            _empty_block(section, context)
            empty = ActiveResponse(index=index, line=section.line, column=section.column,
                                   kept=False, skip_reason="empty block: ignored")
            reads.append(ResponseRead(empty, section, BlockOptions(section)))
            continue
        reads.append(read_response(section, index, first_of_name, context))
    return reads


def _empty_block(section: ConfigNode, context: ReadContext) -> None:
    # Spec 2/3.1: analysisd reads these blocks only when they have child elements.
    context.findings.warning(
        "AR-EMPTY-BLOCK", section,
        f"<{section.tag}> holds no options: it is ignored",
        f"remove the empty <{section.tag}> (some Wazuh versions refuse it with error 1230)")


def _node_name(sections: list[ConfigNode]) -> str:
    for section in sections:
        if section.tag == "cluster":
            for child in section.children:
                if child.tag == "node_name":
                    return child.text or ""
    return ""
