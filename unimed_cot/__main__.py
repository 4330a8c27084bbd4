from unimed_cot.cli import main

main()
