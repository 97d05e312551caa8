//! Credentials of HTTP client sections (scrape configs, Alertmanager sets): inline secrets or files read when
//! asked.

use crate::types::{Authorization, BasicAuth, Secret};

fn read_secret(inline: Option<&Secret>, file: Option<&String>) -> Option<String> {
    if let Some(s) = inline {
        return Some(s.0.clone());
    }
    file.and_then(|f| std::fs::read_to_string(f).ok()).map(|s| s.trim().to_string())
}

/// The `Authorization` header value of an HTTP client section: `authorization` (type `Bearer` by default) or the
/// deprecated `bearer_token`/`bearer_token_file`. Credential files are read when this is called.
pub fn authorization_header(
    authorization: Option<&Authorization>,
    bearer_token: Option<&Secret>,
    bearer_token_file: Option<&String>,
) -> Option<String> {
    match authorization {
        Some(a) => {
            let kind = a.kind.clone().unwrap_or_else(|| "Bearer".to_string());
            read_secret(a.credentials.as_ref(), a.credentials_file.as_ref())
                .map(|cred| format!("{kind} {cred}"))
        }
        None => read_secret(bearer_token, bearer_token_file).map(|t| format!("Bearer {t}")),
    }
}

impl BasicAuth {
    /// User name and password, reading `username_file`/`password_file` when given.
    pub fn resolve(&self) -> (String, String) {
        let user = match &self.username_file {
            Some(f) if self.username.is_empty() => {
                std::fs::read_to_string(f).map(|s| s.trim().to_string()).unwrap_or_default()
            }
            _ => self.username.clone(),
        };
        (user, read_secret(self.password.as_ref(), self.password_file.as_ref()).unwrap_or_default())
    }
}
