"""CLI tests: every command and flag of funcnet, in-process with CliRunner and in a subprocess."""
