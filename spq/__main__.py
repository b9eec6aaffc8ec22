from spq.cli import main

main()
