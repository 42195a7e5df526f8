//! The control socket: server in the daemon, client in the CLI.
