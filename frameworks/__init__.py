"""Framework plugins that ship with KBP."""
