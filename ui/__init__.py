"""Qt presentation layer of the OKI Siaga 112 wall: renders the engine's state, holds no business rules."""
