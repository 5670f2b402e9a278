//! The cached `credential-process` answer the `keyfob` program gives itself (see
//! [`crate::programs`]): the same [`Engine::presumed_hit`] the engine serves first, with
//! nothing else linked in. Anything but a hit is `None`, and the engine then answers the
//! request from the start, errors and sign-ins included, as if this had not run.

use crate::auto_login;
use crate::engine::{Engine, Interaction};
use crate::env::{Env, SystemClock};
use crate::profile::{Profiles, select_profile};
use crate::serve::Context;
use crate::served::Served;
use crate::store::{Keychain, SessionStore};

/// The Version 1 JSON for `profile` (else the selected one), when its credentials are a
/// cache hit that needs no decision beyond the one keychain read.
pub fn cached_process_json(env: &Env, profile: Option<&str>) -> Option<String> {
    let profiles = Profiles::load(env).ok()?;
    let name = select_profile(profile, env);
    // A bad setting is an error on every request, hits included: the engine reports it.
    auto_login::check(env, &profiles, &name).ok()?;
    let store = Keychain::open(env).ok()?;
    let is_keyfob = |program: &str| crate::programs::is_keyfob(env, program);
    let served = Served {
        env,
        store: Some(&store as &dyn SessionStore),
        is_keyfob: &is_keyfob,
        running_as: Some(&name),
    };
    let cache_dir = crate::paths::cache_dir(env);
    let nobody = |_: &str| None;
    let engine = Engine {
        ctx: Context {
            store: &store,
            clock: &SystemClock,
            cache_dir: &cache_dir,
        },
        profiles: &profiles,
        env,
        served: &served,
        ui: &Interaction { mfa_code: &nobody },
    };
    let hit = engine.presumed_hit(&name)?;
    Some(hit.credentials.to_process_json())
}
