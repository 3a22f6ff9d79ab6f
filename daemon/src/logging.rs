//! Logging through `tracing`: text or JSON on stderr, the level from the
//! configuration unless `TERN_LOG` (an `EnvFilter` directive) says otherwise.

use config::schema::{LogFormat, LogLevel};

/// Logging to stderr, `TERN_LOG` overriding the configured level.
pub fn init(level: LogLevel, format: LogFormat) {
    let default = match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TERN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
