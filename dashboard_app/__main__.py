from dashboard_app.cli import main

main()
