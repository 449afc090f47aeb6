from chatdeploy.cli import main

main()
