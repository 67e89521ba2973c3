"""The `callgate` command line: argument parsing (`main`), the commands, and `serve`."""
