//! Call applications: state machines the engine steps once per block.
