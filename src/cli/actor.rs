//! Who is acting, for the event log: `--actor NAME`, else `JIT_ACTOR`, else the user.

use super::invocation::Invocation;
use crate::error::Result;
use crate::model::validate_actor;

/// The actor: `flag` (from `--actor` or `JIT_ACTOR`, which clap has merged; an empty
/// `JIT_ACTOR` counts as unset), validated like an assignee; else the user name.
pub fn resolve(flag: Option<&str>, inv: &Invocation) -> Result<String> {
    match flag {
        Some(name) => {
            validate_actor(name)?;
            Ok(name.to_string())
        }
        None => Ok(user(inv.var("USER"))),
    }
}

/// `$USER`, else this uid's name in the password database, else `uid:N`; a name that is not
/// a valid actor (a space in it, say) is passed over the same way.
fn user(user_var: Option<String>) -> String {
    let uid = rustix::process::getuid().as_raw();
    let valid = |n: &str| validate_actor(n).is_ok();
    if let Some(u) = user_var.filter(|u| valid(u)) {
        return u;
    }
    passwd_name(uid).filter(|n| valid(n)).unwrap_or_else(|| format!("uid:{uid}"))
}

/// The name of `uid` in `/etc/passwd` (`name:password:uid:...`), if it is listed there.
fn passwd_name(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_actor_is_validated_and_the_default_is_never_empty() {
        let inv = Invocation::from_process();
        assert_eq!(resolve(Some("agent:7"), &inv).unwrap(), "agent:7");
        assert_eq!(resolve(Some("a b"), &inv).unwrap_err().code(), "INVALID_ARGUMENT");
        assert!(validate_actor(&resolve(None, &inv).unwrap()).is_ok());
        assert_eq!(passwd_name(0).as_deref(), Some("root"));
    }
}
