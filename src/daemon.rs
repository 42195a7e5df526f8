//! Wires card, engine, store and control socket into the running daemon.
