//! (placeholder: the built-in stdio MCP server, owned by the stdio work.)

/// Serves MCP over this process's stdin/stdout until stdin closes.
pub fn run() -> std::io::Result<()> {
    Ok(())
}
