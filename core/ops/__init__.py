"""Operations that span both sides: migrate, init, (later) reset and restore."""
