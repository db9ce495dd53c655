from redisops.cli.main import main

main()
