from frametool.cli import main

main()
