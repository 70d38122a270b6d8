from arconsole.cli import main

raise SystemExit(main())
