from scalinglaws.cli import main

raise SystemExit(main())
