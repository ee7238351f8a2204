//! Who is calling: the bearer token of a request, looked up by its SHA-256 among the
//! configuration's tokens. Without a configuration file every caller is the anonymous admin
//! of the one tenant (the server then listens on loopback only).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;

use crate::catalog::DEFAULT_TENANT;
use crate::config::{hash_token, Role, ALL_TENANTS};
use crate::error::ApiError;
use crate::server::AppState;

/// The caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name (`anonymous` without authentication).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Its tenant, or [`ALL_TENANTS`].
    pub tenant: String,
}

impl Caller {
    /// The caller's tenant, for the contract endpoints; an all-tenants admin token has none.
    pub fn tenant(&self) -> Result<&str, ApiError> {
        if self.tenant == ALL_TENANTS {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "token `{}` is for every tenant's administration; contract endpoints need a tenant's token",
                    self.name
                ),
            ))
        } else {
            Ok(&self.tenant)
        }
    }

    /// Refuses (403) a caller without the admin role.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this endpoint needs the `admin` role; token `{}` has `{}`",
                    self.name, self.role
                ),
            ))
        }
    }

    /// Whether the caller may see a tenant's details (its bundles' problems, say).
    pub fn sees_tenant(&self, tenant: &str) -> bool {
        self.tenant == ALL_TENANTS || self.tenant == tenant
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(tokens) = &state.config().tokens else {
            return Ok(Self {
                name: "anonymous".into(),
                role: Role::Admin,
                tenant: DEFAULT_TENANT.into(),
            });
        };
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing `Authorization: Bearer <token>` header"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, token) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the `Authorization` header must be `Bearer <token>`"))?;
        let entry = tokens
            .get(&hash_token(token))
            .ok_or_else(|| unauthorized("unknown token"))?;
        Ok(Self {
            name: entry.name.clone(),
            role: entry.role,
            tenant: entry.tenant.clone(),
        })
    }
}
