"""The command line: ``migctl <command>``, for scripts, CI and application start-up."""
