"""Enterprise to Cloud Sync: the application package (settings, command line, Sync Info, demo)."""
