"""What people read: `pipec plan` tables and `pipec graph` Mermaid / DOT text, rendered from
the IR (no target involved)."""
