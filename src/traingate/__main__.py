from traingate.cli import main

raise SystemExit(main())
