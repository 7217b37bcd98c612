from exolab.cli import main

raise SystemExit(main())
