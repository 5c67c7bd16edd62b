//! The storage conformance suite: one story over the `Store` trait and the
//! domain layer, run against SQLite and against a real PostgreSQL.

#[path = "support/mod.rs"]
mod support;

use keyward::crypto::envelope;
use keyward::crypto::keyring::{Key, KeySource, Keyring};
use keyward::domain::audit::{self, Event, Filter};
use keyward::domain::{keys, seed};
use keyward::store::{self, Store, Value};
use keyward::Error;

/// `actor` acting now, on the system clock.
fn stamp(actor: &str) -> audit::Stamp<'_> {
    audit::Stamp::new(actor, &keyward::time::SystemClock)
}

fn ring(active: &Key, previous: &[&Key]) -> Keyring {
    Keyring::new(
        active.clone(),
        previous.iter().map(|k| (*k).clone()).collect(),
        KeySource::EnvVar("TEST_KEY".into()),
    )
}

fn count(s: &mut dyn Store, table: &str) -> i64 {
    store::read(s, |c| {
        c.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])?
            .int(0)
    })
    .unwrap()
}

both_backends! {
    /// Migrations apply once, the schema is then current, and a second run applies nothing.
    fn migrations_apply_once(db) {
        let mut s = db.open_raw();
        let err = store::ensure_current(s.as_mut()).unwrap_err();
        assert_eq!(err.exit_code(), 6, "{err}");
        assert!(err.to_string().contains("keyward db migrate"), "{err}");
        let dry = s.migrate(true).unwrap();
        assert!(!dry.is_empty());
        assert!(s.migration_states().unwrap().iter().all(|m| !m.applied), "dry run changes nothing");
        let applied = s.migrate(false).unwrap();
        assert_eq!(applied.len(), dry.len());
        store::ensure_current(s.as_mut()).unwrap();
        assert!(s.migrate(false).unwrap().is_empty());
        let states = s.migration_states().unwrap();
        assert!(states.iter().all(|m| m.applied && !m.modified && !m.unknown));
    }
}

both_backends! {
    /// Every value kind survives a round trip, NULL included.
    fn values_round_trip(db) {
        let mut s = db.open();
        let t = keyward::time::Clock::now(&keyward::time::SystemClock);
        store::write(s.as_mut(), |c| {
            c.execute(
                "INSERT INTO roles (name, description, is_system, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
                &["r1".into(), Value::Null, true.into(), t.into()],
            )
        })
        .unwrap();
        let row = store::read(s.as_mut(), |c| {
            c.query_one("SELECT id, name, description, is_system, created_at FROM roles WHERE name = $1", &["r1".into()])
        })
        .unwrap();
        assert!(row.int(0).unwrap() >= 1);
        assert_eq!(row.text(1).unwrap(), "r1");
        assert_eq!(row.opt_text(2).unwrap(), None);
        assert!(row.bool(3).unwrap());
        assert_eq!(row.time(4).unwrap(), t);
        // Time comparisons work on both encodings.
        let later = store::read(s.as_mut(), |c| {
            c.query("SELECT name FROM roles WHERE created_at >= $1", &[t.into()])
        })
        .unwrap();
        assert_eq!(later.len(), 1);
    }
}

both_backends! {
    /// Driver errors become the crate's kinds: unique → conflict, check → invalid.
    fn constraint_errors_map_to_exit_codes(db) {
        let mut s = db.open();
        let t = keyward::time::Clock::now(&keyward::time::SystemClock);
        let insert = |s: &mut dyn Store, action: &str| {
            store::write(s, |c| {
                c.execute(
                    "INSERT INTO permissions (resource, action, created_at) VALUES ('x', $1, $2)",
                    &[action.into(), t.into()],
                )
            })
        };
        insert(s.as_mut(), "read").unwrap();
        assert_eq!(insert(s.as_mut(), "read").unwrap_err().exit_code(), 4);
        assert_eq!(insert(s.as_mut(), "fly").unwrap_err().exit_code(), 2);
    }
}

both_backends! {
    /// A failing write transaction leaves nothing behind: all or nothing.
    fn failed_transactions_roll_back(db) {
        let mut s = db.open();
        let before = count(s.as_mut(), "audit_events");
        let result: keyward::Result<()> = store::write(s.as_mut(), |c| {
            audit::record(c, stamp("t"), Event::new("test.one", "test", "a"))?;
            seed::seed(c, stamp("t"))?;
            Err(Error::conflict("boom"))
        });
        assert!(result.is_err());
        assert_eq!(count(s.as_mut(), "audit_events"), before);
        assert_eq!(count(s.as_mut(), "permissions"), 0);
    }
}

both_backends! {
    /// The chain links every entry to the previous one and verifies; filters select.
    fn audit_chain_records_and_verifies(db) {
        let mut s = db.open();
        for i in 0..30 {
            let actor = if i % 2 == 0 { "even" } else { "odd" };
            store::write(s.as_mut(), |c| {
                audit::record(
                    c,
                    stamp(actor),
                    Event::new(if i % 3 == 0 { "user.create" } else { "setting.update" }, "thing", format!("t{i}"))
                        .details(serde_json::json!({ "i": i, "nested": { "b": [1, 2], "a": null } })),
                )
            })
            .unwrap();
        }
        let v = store::read(s.as_mut(), audit::verify).unwrap();
        assert!(v.ok, "{v:?}");
        assert_eq!(v.entries, 30);
        let all = store::read(s.as_mut(), |c| audit::list(c, &Filter::default())).unwrap();
        assert_eq!(all.len(), 30);
        assert!(all.windows(2).all(|w| w[1].prev_hash == w[0].hash && w[1].id == w[0].id + 1));
        assert_eq!(all[0].prev_hash, audit::GENESIS);
        assert!(all.windows(2).all(|w| w[1].occurred_at >= w[0].occurred_at));
        let users = store::read(s.as_mut(), |c| {
            audit::list(c, &Filter { action: Some("user.*".into()), ..Filter::default() })
        })
        .unwrap();
        assert_eq!(users.len(), 10);
        let odd = store::read(s.as_mut(), |c| {
            audit::list(c, &Filter { actor: Some("odd".into()), limit: Some(5), ..Filter::default() })
        })
        .unwrap();
        assert_eq!(odd.len(), 5);
        assert_eq!(odd.last().unwrap().target, "t29");
        assert_eq!(store::read(s.as_mut(), |c| audit::get(c, 7)).unwrap(), all[6]);
        assert_eq!(store::read(s.as_mut(), |c| audit::get(c, 99)).unwrap_err().exit_code(), 3);
    }
}

both_backends! {
    /// Several writers at once (separate connections, as separate processes
    /// would be) all succeed and keep one gapless, linear chain.
    fn concurrent_writers_keep_one_linear_chain(db) {
        const THREADS: usize = 4;
        const EACH: usize = 25;
        drop(db.open());
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                scope.spawn(move || {
                    let mut s = db.open_raw();
                    for i in 0..EACH {
                        store::write(s.as_mut(), |c| {
                            audit::record(c, stamp(&format!("writer{t}")), Event::new("test.write", "test", format!("{t}-{i}")))
                        })
                        .unwrap_or_else(|e| panic!("writer {t} entry {i}: {e}"));
                    }
                });
            }
        });
        let mut s = db.open();
        let v = store::read(s.as_mut(), audit::verify).unwrap();
        assert!(v.ok, "{v:?}");
        assert_eq!(v.entries, (THREADS * EACH) as i64);
    }
}

both_backends! {
    /// Audit rows cannot be updated or deleted, whatever the SQL.
    fn audit_rows_are_append_only(db) {
        let mut s = db.open();
        store::write(s.as_mut(), |c| audit::record(c, stamp("t"), Event::new("test.one", "test", "a"))).unwrap();
        for sql in ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"] {
            let err = store::write(s.as_mut(), |c| c.execute(sql, &[])).unwrap_err();
            assert_eq!(err.exit_code(), 8, "{sql}: {err}");
        }
        assert_eq!(count(s.as_mut(), "audit_events"), 1);
    }
}

both_backends! {
    /// Seeding creates the SPEC's permissions and roles once.
    fn seed_is_idempotent(db) {
        let mut s = db.open();
        let first = store::write(s.as_mut(), |c| seed::seed(c, stamp("t"))).unwrap();
        assert_eq!(first.permissions_added, 13);
        assert_eq!(first.roles_added, 4);
        assert_eq!(first.grants_added, 13 + 10 + 5 + 6);
        let second = store::write(s.as_mut(), |c| seed::seed(c, stamp("t"))).unwrap();
        assert!(!second.changed());
        assert_eq!(count(s.as_mut(), "role_permissions"), 34);
        assert_eq!(count(s.as_mut(), "audit_events"), 1, "only the change is audited");
    }
}

both_backends! {
    /// The key is registered once, a wrong key is refused (exit 7), and a rotation
    /// re-encrypts every sealed column so only the new ring (or old as previous) reads.
    fn key_checks_and_rotation(db) {
        let mut s = db.open();
        let old = Key::generate().unwrap();
        let new = Key::generate().unwrap();
        let old_ring = ring(&old, &[]);
        assert!(store::write(s.as_mut(), |c| keys::ensure(c, &old_ring, stamp("t"))).unwrap());
        assert!(!store::write(s.as_mut(), |c| keys::ensure(c, &old_ring, stamp("t"))).unwrap());
        let wrong = ring(&new, &[]);
        let err = store::read(s.as_mut(), |c| keys::check(c, &wrong)).unwrap_err();
        assert_eq!(err.exit_code(), 7);
        assert!(err.to_string().contains(old.kid()), "{err}");

        // Sealed values in both registered columns, one in the legacy format.
        let t = keyward::time::Clock::now(&keyward::time::SystemClock);
        let secret = envelope::seal(&old, "setting:production:smtp.password", b"hunter2").unwrap();
        let totp = envelope::seal(&old, "totp:alice", b"JBSWY3DPEHPK3PXP").unwrap();
        store::write(s.as_mut(), |c| {
            c.execute(
                "INSERT INTO settings (key, environment, value, is_encrypted, created_at, updated_at) VALUES ('smtp.password', 'production', $1, TRUE, $2, $2)",
                &[secret.clone().into(), t.into()],
            )?;
            c.execute(
                "INSERT INTO users (username, email, password_hash, totp_secret, created_at, updated_at) VALUES ('alice', 'a@example.com', 'x', $1, $2, $2)",
                &[totp.clone().into(), t.into()],
            )
        })
        .unwrap();
        assert_eq!(store::read(s.as_mut(), keys::count_sealed).unwrap(), 2);

        let mut seen = Vec::new();
        let rotation = store::write(s.as_mut(), |c| {
            keys::rotate(c, &old_ring, &new, stamp("t"), &mut |done, total| seen.push((done, total)))
        })
        .unwrap();
        assert_eq!(rotation.reencrypted, 2);
        assert_eq!(rotation.resealed.get("setting"), Some(&1));
        assert_eq!(rotation.resealed.get("totp"), Some(&1));
        assert_eq!(seen.last(), Some(&(2, 2)));

        let (value, totp_now) = store::read(s.as_mut(), |c| {
            Ok((
                c.query_one("SELECT value FROM settings", &[])?.text(0)?,
                c.query_one("SELECT totp_secret FROM users", &[])?.text(0)?,
            ))
        })
        .unwrap();
        assert_eq!(envelope::kid_of(&value), Some(new.kid()));
        let new_ring = ring(&new, &[&old]);
        assert_eq!(&*envelope::open(&new_ring, "setting:production:smtp.password", &value).unwrap(), b"hunter2");
        assert_eq!(&*envelope::open(&new_ring, "totp:alice", &totp_now).unwrap(), b"JBSWY3DPEHPK3PXP");
        assert_eq!(envelope::open(&old_ring, "setting:production:smtp.password", &value).unwrap_err().exit_code(), 7);
        store::read(s.as_mut(), |c| keys::check(c, &new_ring)).unwrap();
        let err = store::read(s.as_mut(), |c| keys::check(c, &old_ring)).unwrap_err();
        assert!(err.to_string().contains("retired"), "{err}");

        // A rollback of the rotation (error inside) changes nothing.
        let third = Key::generate().unwrap();
        let failed: keyward::Result<()> = store::write(s.as_mut(), |c| {
            keys::rotate(c, &new_ring, &third, stamp("t"), &mut |_, _| {})?;
            Err(Error::internal("killed"))
        });
        assert!(failed.is_err());
        store::read(s.as_mut(), |c| keys::check(c, &new_ring)).unwrap();
        let v = store::read(s.as_mut(), audit::verify).unwrap();
        assert!(v.ok);
    }
}

/// The permissions a role holds, `resource:action`, sorted.
fn grants_of(s: &mut dyn Store, role: &str) -> Vec<String> {
    store::read(s, |c| {
        c.query(
            "SELECT p.resource || ':' || p.action AS permission FROM role_permissions rp \
             JOIN roles r ON r.id = rp.role_id JOIN permissions p ON p.id = rp.permission_id \
             WHERE r.name = $1 ORDER BY permission",
            &[role.into()],
        )?
        .iter()
        .map(|r| r.text("permission"))
        .collect()
    })
    .unwrap()
}

both_backends! {
    /// A later seed version brings its new grant to the existing system roles once;
    /// a built-in grant an operator revoked stays revoked.
    fn seed_versions_bring_new_grants_once(db) {
        let mut s = db.open();
        store::write(s.as_mut(), |c| seed::seed(c, stamp("t"))).unwrap();
        store::write(s.as_mut(), |c| {
            c.execute(
                "DELETE FROM role_permissions WHERE role_id = (SELECT id FROM roles WHERE name = 'admin') \
                 AND permission_id = (SELECT id FROM permissions WHERE resource = 'users' AND action = 'delete')",
                &[],
            )
        })
        .unwrap();
        let mut v2 = seed::builtin();
        let sessions_read = seed::Builtin { permission: "sessions:read", since: 2 };
        v2.permissions.push(sessions_read);
        for role in v2.roles.iter_mut().filter(|r| r.name == "admin" || r.name == "viewer") {
            role.grants.push(sessions_read);
        }
        let pending = |s: &mut dyn Store, l: &seed::SeedList| store::read(s, |c| seed::upgrade_pending(c, l)).unwrap();
        assert!(!pending(s.as_mut(), &seed::builtin()), "nothing due: a revoke is not a due grant");
        assert!(pending(s.as_mut(), &v2));
        let audited = count(s.as_mut(), "audit_events");
        let mut firsts = Vec::new();
        for run in [
            |c: &mut dyn keyward::store::Conn, l: &seed::SeedList| seed::upgrade_with(c, l, stamp("t")),
            |c: &mut dyn keyward::store::Conn, l: &seed::SeedList| seed::seed_with(c, l, stamp("t")),
        ] {
            let first = store::write(s.as_mut(), |c| run(c, &v2)).unwrap();
            let admin = grants_of(s.as_mut(), "admin");
            assert!(admin.contains(&"sessions:read".to_owned()), "{admin:?}");
            assert!(!admin.contains(&"users:delete".to_owned()), "a revoke stays revoked");
            assert_eq!(admin.len(), 13);
            assert!(grants_of(s.as_mut(), "viewer").contains(&"sessions:read".to_owned()));
            assert!(!grants_of(s.as_mut(), "operator").contains(&"sessions:read".to_owned()));
            let again = store::write(s.as_mut(), |c| run(c, &v2)).unwrap();
            assert!(!again.changed(), "{again:?}");
            firsts.push(first);
        }
        // The upgrade brings the permission and its two grants; seeding after it finds them recorded.
        assert_eq!((firsts[0].permissions_added, firsts[0].grants_added, firsts[0].roles_added), (1, 2, 0));
        assert!(!firsts[1].changed(), "{:?}", firsts[1]);
        assert_eq!(count(s.as_mut(), "audit_events"), audited + 1, "audited once, when it changed");
        assert!(!pending(s.as_mut(), &v2));
        let recorded = store::read(s.as_mut(), |c| {
            c.query_one("SELECT since FROM seed_grants WHERE role_name = 'admin' AND resource = 'sessions'", &[])?.int("since")
        })
        .unwrap();
        assert_eq!(recorded, 2);
    }
}

both_backends! {
    /// A database migrated but never seeded gets nothing from the upgrade; seeding
    /// it creates the roles with every grant recorded.
    fn upgrade_needs_system_roles(db) {
        let mut s = db.open();
        assert!(!store::read(s.as_mut(), |c| seed::upgrade_pending(c, &seed::builtin())).unwrap());
        let nothing = store::write(s.as_mut(), |c| seed::upgrade(c, stamp("t"))).unwrap();
        assert!(!nothing.changed());
        assert_eq!(count(s.as_mut(), "permissions"), 0);
        store::write(s.as_mut(), |c| seed::seed(c, stamp("t"))).unwrap();
        assert_eq!(count(s.as_mut(), "seed_grants"), 34);
        let upgrade = store::write(s.as_mut(), |c| seed::upgrade(c, stamp("t"))).unwrap();
        assert!(!upgrade.changed());
    }
}

both_backends! {
    /// Only audited writes may grow the chain: an unaudited write that tries is refused
    /// and leaves nothing behind.
    fn unaudited_writes_cannot_append_to_the_chain(db) {
        let mut s = db.open();
        let before = count(s.as_mut(), "audit_events");
        let err = store::write_unaudited(s.as_mut(), |c| {
            audit::record(c, stamp("t"), Event::new("test.one", "test", "a"))
        })
        .unwrap_err();
        assert_eq!(err.exit_code(), 1, "{err}");
        assert_eq!(count(s.as_mut(), "audit_events"), before);
    }
}

/// On PostgreSQL, an unaudited write never waits for the audit chain's lock:
/// while one audited writer holds it (its transaction left open until the
/// unaudited write is done), another connection's unaudited write commits,
/// and a second audited writer queues behind the first (one linear chain).
#[test]
fn unaudited_writes_do_not_wait_for_the_chain_lock_postgres() {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    let Some(db) = support::TestDb::new(support::Backend::Postgres) else {
        return;
    };
    drop(db.open());
    let db = &db;
    let now = keyward::time::Clock::now(&keyward::time::SystemClock);
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut s = db.open_raw();
            store::write(s.as_mut(), |c| {
                audit::record(c, stamp("holder"), Event::new("test.hold", "test", "a"))?;
                locked_tx.send(()).ok();
                // Hold the chain lock until the main thread has tried both writes.
                release_rx.recv_timeout(Duration::from_secs(30)).ok();
                Ok(())
            })
            .unwrap();
        });
        locked_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("holder started");

        let mut other = db.open_raw();
        let started = Instant::now();
        store::write_unaudited(other.as_mut(), |c| {
            c.execute(
                "INSERT INTO permissions (resource, action, created_at) VALUES ('hot', 'read', $1)",
                &[now.into()],
            )
        })
        .unwrap();
        let unaudited = started.elapsed();

        // Had it waited, it would have waited for the holder's 30 s timeout.
        assert!(
            unaudited < Duration::from_secs(10),
            "unaudited write waited {unaudited:?}"
        );
        let waiter = scope.spawn(move || {
            let mut s = db.open_raw();
            store::write(s.as_mut(), |c| {
                audit::record(c, stamp("waiter"), Event::new("test.wait", "test", "b"))
            })
            .unwrap();
        });
        release_tx.send(()).unwrap();
        waiter.join().unwrap();
    });
    let mut s = db.open_raw();
    let v = store::read(s.as_mut(), audit::verify).unwrap();
    assert!(v.ok);
    let actors: Vec<String> = store::read(s.as_mut(), |c| {
        c.query("SELECT actor FROM audit_events ORDER BY id", &[])?
            .iter()
            .map(|r| r.text("actor"))
            .collect()
    })
    .unwrap();
    assert_eq!(actors, ["holder", "waiter"]);
    assert_eq!(count(s.as_mut(), "permissions"), 1);
}

both_backends! {
    /// Lists read in pages (keyset pagination) give what one read gives, at
    /// any page size: the newest N oldest first, every filter, settings by key.
    fn lists_read_in_pages_match_one_read(db) {
        let mut s = db.open();
        for i in 0..23 {
            store::write(s.as_mut(), |c| {
                let action = if i % 3 == 0 { "user.create" } else { "setting.update" };
                audit::record(c, stamp("pager"), Event::new(action, "thing", format!("t{i}")))
            })
            .unwrap();
        }
        let filters = [
            Filter::default(),
            Filter { limit: Some(5), ..Filter::default() },
            Filter { limit: Some(0), ..Filter::default() },
            Filter { limit: Some(1000), ..Filter::default() },
            Filter { action: Some("user.".into()), limit: Some(4), ..Filter::default() },
            Filter { action: Some("setting.update".into()), ..Filter::default() },
        ];
        for f in &filters {
            let whole = store::read(s.as_mut(), |c| audit::list(c, f)).unwrap();
            for page in [1, 2, 7, 23, 24, 1000] {
                let mut paged = Vec::new();
                let n = store::read(s.as_mut(), |c| {
                    paged.clear();
                    audit::list_paged(c, f, page, |e| {
                        paged.push(e);
                        Ok(())
                    })
                })
                .unwrap();
                assert_eq!(n as usize, paged.len());
                assert_eq!(paged, whole, "{f:?}, page {page}");
            }
            assert!(whole.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
            if let Some(n) = f.limit {
                let all = store::read(s.as_mut(), |c| audit::list(c, &Filter { limit: None, ..f.clone() })).unwrap();
                let newest = &all[all.len().saturating_sub(n as usize)..];
                assert_eq!(whole, newest, "the newest {n}");
            }
        }
        let t = "'2026-01-01T00:00:00.000000Z'";
        for i in (0..25).rev() {
            let cat = if i % 2 == 0 { "even" } else { "odd" };
            let deleted = if i == 4 { "TRUE" } else { "FALSE" };
            store::write_unaudited(s.as_mut(), |c| {
                c.execute(
                    &format!(
                        "INSERT INTO settings (key, environment, value, category, is_deleted, created_at, updated_at) \
                         VALUES ('k{i:02}', 'pages', 'v', '{cat}', {deleted}, {t}, {t})"
                    ),
                    &[],
                )
            })
            .unwrap();
        }
        use keyward::domain::settings::{self, ListFilter};
        for (category, prefix) in [(None, None), (Some("even"), None), (None, Some("k1")), (Some("odd"), Some("k2"))] {
            let f = ListFilter { env: "pages", category, prefix };
            let whole = store::read(s.as_mut(), |c| settings::list(c, "pages", category, prefix)).unwrap();
            let want: Vec<String> = (0..25)
                .filter(|i| *i != 4)
                .filter(|i| category.is_none_or(|c| (c == "even") == (i % 2 == 0)))
                .map(|i| format!("k{i:02}"))
                .filter(|k| prefix.is_none_or(|p| k.starts_with(p)))
                .collect();
            assert_eq!(whole.iter().map(|s| s.key.clone()).collect::<Vec<_>>(), want);
            for page in [1, 3, 24, 100] {
                let mut keys = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let got = store::read(s.as_mut(), |c| settings::list_page(c, &f, after.as_deref(), page)).unwrap();
                    keys.extend(got.iter().map(|s| s.key.clone()));
                    if (got.len() as i64) < page {
                        break;
                    }
                    after = got.last().map(|s| s.key.clone());
                }
                assert_eq!(keys, want, "{category:?} {prefix:?}, page {page}");
            }
        }
    }
}
