"""Built-in plugins: they use only the hooks and core's public API, exactly like third-party plugins."""
