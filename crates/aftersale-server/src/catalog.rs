//! The set of contracts a server serves: every bundle under the rules folder, grouped by
//! tenant and contract id, each id with its versions, each tenant's folder checked whole
//! (loaded, tests run, effective ranges disjoint) before it may serve. Tenants load apart
//! ([`load_tenants`]): a tenant with problems keeps what it served, the others move on.
//!
//! A tenant's folder is its own: a folder under it that is a symbolic link to somewhere
//! outside it (another tenant's contract, say), or a tenant folder that is a link into
//! another tenant's, is not followed but reported as that tenant's problem.
//!
//! A catalog is immutable: a reload builds a new one and swaps it in, so a request holds the
//! `Arc` of the set it started on until it ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aftersale_core::CaseFileProblem;
use aftersale_core::{Contract, Date, DateTime, Engine};
use serde::Serialize;

use crate::config::is_tenant_name;

/// The tenant of a server without a configuration file.
pub const DEFAULT_TENANT: &str = "default";

/// Folders deeper than this under a tenant are not searched for bundles (a guard against
/// symlink loops).
const MAX_DEPTH: usize = 8;

/// How the rules folder is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Every bundle anywhere under the folder belongs to [`DEFAULT_TENANT`].
    SingleTenant,
    /// Each first-level folder is a tenant; its bundles are anywhere under it.
    Tenants,
}

/// One loaded contract version and where it came from.
#[derive(Debug)]
pub struct Bundle {
    /// The compiled contract.
    pub contract: Contract,
    /// The bundle folder.
    pub path: PathBuf,
    /// How many of its `tests/*.toml` cases passed (all of them, or it would not be here).
    pub tests_passed: usize,
}

/// One tenant's contracts: each id's versions, ordered by `effective_from` (open start
/// first), then by version text.
#[derive(Debug, Default, Clone)]
pub struct Tenant {
    contracts: BTreeMap<String, Vec<Arc<Bundle>>>,
}

/// Every tenant's contracts, as loaded at one moment.
#[derive(Debug)]
pub struct Catalog {
    tenants: BTreeMap<String, Arc<Tenant>>,
    failing: BTreeMap<String, Vec<Problem>>,
    loaded_at: chrono::DateTime<chrono::Utc>,
}

/// A problem that keeps a rules folder from being served.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// The tenant whose folder has it.
    pub tenant: String,
    /// The bundle folder (or the rules folder).
    pub bundle: String,
    /// What is wrong.
    pub message: String,
}

/// Why a rules folder could not become a catalog: every problem found.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} problem{} in the rules folder: {}", problems.len(), if problems.len() == 1 { "" } else { "s" }, problems.iter().map(|p| format!("{}: {}", p.bundle, p.message)).collect::<Vec<_>>().join("; "))]
pub struct CatalogError {
    /// The problems, bundle by bundle in folder order.
    pub problems: Vec<Problem>,
}

/// How a request picks a version.
#[derive(Debug, Clone, Copy)]
pub enum Selector<'a> {
    /// Exactly this version.
    Version(&'a str),
    /// The version in force on this day (a purchase date, say).
    EffectiveOn(Date),
    /// The version in force at the request's `as_of` (its date in the contract's zone).
    InForce,
}

/// Why no version could be picked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SelectError {
    /// No contract with this id (for this tenant).
    #[error("unknown contract `{id}`")]
    UnknownContract {
        /// The id asked for.
        id: String,
    },
    /// The contract has no such version.
    #[error("contract `{id}` has no version `{version}` (versions: {available})")]
    UnknownVersion {
        /// The contract.
        id: String,
        /// The version asked for.
        version: String,
        /// The versions there are.
        available: String,
    },
    /// No version is in force on the day.
    #[error("no version of contract `{id}` is in force on {day} (versions: {available})")]
    NoneInForce {
        /// The contract.
        id: String,
        /// The day asked about.
        day: String,
        /// The versions there are, with their effective ranges.
        available: String,
    },
    /// The request's `as_of` could not be read.
    #[error("{0}")]
    AsOf(#[from] aftersale_core::AsOfError),
}

impl Catalog {
    /// The catalog to serve after a load: each tenant that loaded replaces its contracts;
    /// one that did not keeps those of `previous` (none at start-up) and is listed as
    /// failing with its problems; a tenant whose folder is gone is gone.
    pub fn merge(previous: Option<&Catalog>, loads: TenantLoads) -> Catalog {
        let mut tenants = BTreeMap::new();
        let mut failing = BTreeMap::new();
        for (name, load) in loads {
            match load {
                Ok(tenant) => {
                    tenants.insert(name, Arc::new(tenant));
                }
                Err(problems) => {
                    if let Some(kept) = previous.and_then(|p| p.tenants.get(&name)) {
                        tenants.insert(name.clone(), Arc::clone(kept));
                    }
                    failing.insert(name, problems);
                }
            }
        }
        Catalog {
            tenants,
            failing,
            loaded_at: chrono::Utc::now(),
        }
    }

    /// The tenants whose folder did not load the last time, with its problems: each serves
    /// what it served before (nothing, when it failed at start-up).
    pub fn failing(&self) -> impl Iterator<Item = (&str, &[Problem])> {
        self.failing.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// When it was loaded.
    pub fn loaded_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.loaded_at
    }

    /// A tenant's contracts; `None` when the tenant has no folder.
    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.get(name).map(Arc::as_ref)
    }

    /// Every tenant serving contracts, by name.
    pub fn tenants(&self) -> impl Iterator<Item = (&str, &Tenant)> {
        self.tenants.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }

    /// How many contract versions are loaded, over all tenants.
    pub fn version_count(&self) -> usize {
        self.tenants.values().map(|t| t.version_count()).sum()
    }
}

impl Tenant {
    /// Each contract id with its versions.
    pub fn contracts(&self) -> impl Iterator<Item = (&str, &[Arc<Bundle>])> {
        self.contracts
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The versions of one contract.
    pub fn versions(&self, id: &str) -> Option<&[Arc<Bundle>]> {
        self.contracts.get(id).map(Vec::as_slice)
    }

    /// How many contract versions it has.
    pub fn version_count(&self) -> usize {
        self.contracts.values().map(Vec::len).sum()
    }

    /// How many test cases its bundles passed when they were loaded.
    pub fn tests_passed(&self) -> usize {
        self.contracts
            .values()
            .flatten()
            .map(|b| b.tests_passed)
            .sum()
    }

    /// Picks the version a request gets, and reads its `as_of` (a date or an RFC 3339
    /// datetime; `None` means now in the contract's time zone).
    pub fn select(
        &self,
        id: &str,
        selector: Selector<'_>,
        as_of: Option<&str>,
    ) -> Result<(Arc<Bundle>, DateTime), SelectError> {
        let versions = self
            .contracts
            .get(id)
            .ok_or_else(|| SelectError::UnknownContract { id: id.into() })?;
        let chosen = match selector {
            Selector::Version(version) => versions
                .iter()
                .find(|b| b.contract.version() == version)
                .ok_or_else(|| SelectError::UnknownVersion {
                    id: id.into(),
                    version: version.into(),
                    available: describe_versions(versions),
                })?,
            Selector::EffectiveOn(day) => versions
                .iter()
                .rev()
                .find(|b| b.contract.in_force_on(day))
                .ok_or_else(|| SelectError::NoneInForce {
                    id: id.into(),
                    day: day.to_string(),
                    available: describe_versions(versions),
                })?,
            Selector::InForce => {
                // Each version reads `as_of` in its own zone; when versions differ in zone,
                // two may match near midnight and the later one wins.
                let mut found = None;
                let mut day_seen = None;
                for bundle in versions.iter().rev() {
                    let t = instant(&bundle.contract, as_of)?;
                    let day = t.date_in(bundle.contract.timezone());
                    day_seen.get_or_insert(day);
                    if bundle.contract.in_force_on(day) {
                        found = Some(bundle);
                        break;
                    }
                }
                found.ok_or_else(|| SelectError::NoneInForce {
                    id: id.into(),
                    day: day_seen.map_or_else(String::new, |d| d.to_string()),
                    available: describe_versions(versions),
                })?
            }
        };
        let t = instant(&chosen.contract, as_of)?;
        Ok((Arc::clone(chosen), t))
    }
}

/// The instant of an `as_of` text for a contract, or now in its zone: the only place the
/// server reads the clock for a decision.
fn instant(contract: &Contract, as_of: Option<&str>) -> Result<DateTime, SelectError> {
    match as_of {
        Some(text) => Ok(contract.parse_as_of(text)?),
        None => Ok(DateTime(
            chrono::Utc::now()
                .with_timezone(&contract.timezone())
                .fixed_offset(),
        )),
    }
}

/// `2025.1 (from 2025-01-01 to 2025-12-31), 2026.1 (from 2026-01-01)`.
fn describe_versions(versions: &[Arc<Bundle>]) -> String {
    versions
        .iter()
        .map(|b| format!("{} ({})", b.contract.version(), range_text(&b.contract)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn range_text(contract: &Contract) -> String {
    match (contract.effective_from(), contract.effective_to()) {
        (None, None) => "always in force".into(),
        (Some(f), None) => format!("from {f}"),
        (None, Some(t)) => format!("until {t}"),
        (Some(f), Some(t)) => format!("from {f} to {t}"),
    }
}

/// What loading each tenant of a rules folder gave: its contracts, or every problem that
/// keeps it from serving. Tenants load apart, so one tenant's broken bundle leaves the others
/// alone.
pub type TenantLoads = BTreeMap<String, Result<Tenant, Vec<Problem>>>;

/// Loads every bundle under `rules`, runs each bundle's test cases and checks versions;
/// returns the catalog only when nothing is wrong, else every problem found.
pub fn load_catalog(
    engine: &Engine,
    rules: &Path,
    layout: Layout,
) -> Result<Catalog, CatalogError> {
    let loads = load_tenants(engine, rules, layout)?;
    let problems: Vec<Problem> = loads
        .values()
        .filter_map(|load| load.as_ref().err())
        .flatten()
        .cloned()
        .collect();
    if problems.is_empty() {
        Ok(Catalog::merge(None, loads))
    } else {
        Err(CatalogError { problems })
    }
}

/// Loads each tenant of `rules` on its own: every bundle under its folder loaded, its test
/// cases run and its versions checked. Fails as a whole only when the rules folder cannot be
/// read, or when no tenant has a bundle and none has a problem.
pub fn load_tenants(
    engine: &Engine,
    rules: &Path,
    layout: Layout,
) -> Result<TenantLoads, CatalogError> {
    let rules_name = rules.display().to_string();
    let rules_problem = |message: String| CatalogError {
        problems: vec![Problem {
            tenant: String::new(),
            bundle: rules_name.clone(),
            message,
        }],
    };
    let tenant_dirs: Vec<(String, PathBuf)> = match layout {
        Layout::SingleTenant => vec![(DEFAULT_TENANT.to_string(), rules.to_path_buf())],
        Layout::Tenants => match sorted_subdirs(rules) {
            Ok(dirs) => dirs
                .into_iter()
                .filter_map(|dir| {
                    let name = dir.file_name()?.to_string_lossy().into_owned();
                    if is_tenant_name(&name) {
                        Some((name, dir))
                    } else {
                        tracing::warn!(folder = %dir.display(), "skipped: not a tenant name ([a-z0-9_-]+)");
                        None
                    }
                })
                .collect(),
            Err(e) => return Err(rules_problem(format!("cannot read the rules folder: {e}"))),
        },
    };
    // Each tenant's folder as the file system resolves it: a tenant folder that is a link
    // into another tenant's folder would serve that tenant's contracts as its own.
    let roots: Vec<Option<PathBuf>> = tenant_dirs
        .iter()
        .map(|(_, dir)| dir.canonicalize().ok())
        .collect();
    let mut loads = TenantLoads::new();
    let mut any_bundle = false;
    for (i, (tenant_name, dir)) in tenant_dirs.iter().enumerate() {
        let mut problems = Vec::new();
        let Some(root) = roots.get(i).cloned().flatten() else {
            problems.push(Problem {
                tenant: tenant_name.clone(),
                bundle: dir.display().to_string(),
                message: "cannot read folder: it cannot be resolved".into(),
            });
            loads.insert(tenant_name.clone(), Err(problems));
            continue;
        };
        let is_link = std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink());
        let into_other = roots
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other.as_ref().is_some_and(|o| root.starts_with(o)));
        if is_link && into_other {
            problems.push(Problem {
                tenant: tenant_name.clone(),
                bundle: dir.display().to_string(),
                message: format!(
                    "tenant folder `{tenant_name}` is a symbolic link into another tenant's folder: not followed"
                ),
            });
            loads.insert(tenant_name.clone(), Err(problems));
            continue;
        }
        let mut bundles = Vec::new();
        let mut escapes = Vec::new();
        if let Err(e) = find_bundles(dir, &root, 0, &mut bundles, &mut escapes) {
            problems.push(Problem {
                tenant: tenant_name.clone(),
                bundle: dir.display().to_string(),
                message: format!("cannot read folder: {e}"),
            });
        }
        for link in escapes {
            problems.push(Problem {
                tenant: tenant_name.clone(),
                bundle: link.display().to_string(),
                message: format!(
                    "`{}` is a symbolic link to a folder outside tenant `{tenant_name}`'s folder: not followed",
                    // Named within the tenant's folder: where the server keeps its folders is
                    // not the tenant's business.
                    link.strip_prefix(dir).unwrap_or(&link).display()
                ),
            });
        }
        any_bundle |= !bundles.is_empty();
        let tenant = load_tenant(engine, tenant_name, bundles, &mut problems);
        let load = if problems.is_empty() {
            Ok(tenant)
        } else {
            Err(problems)
        };
        loads.insert(tenant_name.clone(), load);
    }
    if !any_bundle && loads.values().all(Result::is_ok) {
        return Err(rules_problem(match layout {
            Layout::SingleTenant => "no bundle (a folder holding contract.toml) found".into(),
            Layout::Tenants => {
                "no bundle found under any tenant folder (<rules>/<tenant>/.../contract.toml)"
                    .into()
            }
        }));
    }
    Ok(loads)
}

/// Loads a tenant's bundles, runs their tests and checks their versions, adding every
/// problem to `problems`.
fn load_tenant(
    engine: &Engine,
    tenant_name: &str,
    bundles: Vec<PathBuf>,
    problems: &mut Vec<Problem>,
) -> Tenant {
    let mut tenant = Tenant::default();
    for path in bundles {
        let mut bad = |message: String| {
            problems.push(Problem {
                tenant: tenant_name.to_string(),
                bundle: path.display().to_string(),
                message,
            });
        };
        let contract = match engine.load_dir(&path) {
            Ok(c) => c,
            Err(errors) => {
                for e in errors.errors {
                    bad(e.to_string());
                }
                continue;
            }
        };
        let tests_passed = match run_tests(&contract, &path) {
            Ok(n) => n,
            Err(failures) => {
                for f in failures {
                    bad(f);
                }
                continue;
            }
        };
        tenant
            .contracts
            .entry(contract.id().to_string())
            .or_insert_with(Vec::new)
            .push(Arc::new(Bundle {
                contract,
                path: path.clone(),
                tests_passed,
            }));
    }
    for versions in tenant.contracts.values_mut() {
        versions.sort_by(|a, b| {
            (a.contract.effective_from(), a.contract.version())
                .cmp(&(b.contract.effective_from(), b.contract.version()))
        });
        problems.extend(
            version_conflicts(versions)
                .into_iter()
                .map(|(bundle, message)| Problem {
                    tenant: tenant_name.to_string(),
                    bundle,
                    message,
                }),
        );
    }
    tenant
}

/// Two bundles with the same version, or whose effective ranges overlap (absent ends are
/// open), cannot both serve: a request could not tell them apart.
fn version_conflicts(versions: &[Arc<Bundle>]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, a) in versions.iter().enumerate() {
        for b in versions.iter().skip(i + 1) {
            let (ca, cb) = (&a.contract, &b.contract);
            let message = if ca.version() == cb.version() {
                format!(
                    "contract `{}` version `{}` is defined twice: `{}` and `{}`",
                    ca.id(),
                    ca.version(),
                    a.path.display(),
                    b.path.display()
                )
            } else if overlaps(ca, cb) {
                format!(
                    "contract `{}`: the effective ranges of version `{}` ({}, `{}`) and version `{}` ({}, `{}`) overlap",
                    ca.id(),
                    ca.version(),
                    range_text(ca),
                    a.path.display(),
                    cb.version(),
                    range_text(cb),
                    b.path.display()
                )
            } else {
                continue;
            };
            out.push((b.path.display().to_string(), message));
        }
    }
    out
}

fn overlaps(a: &Contract, b: &Contract) -> bool {
    let starts_before_end =
        |x: &Contract, y: &Contract| match (x.effective_from(), y.effective_to()) {
            (Some(from), Some(to)) => from <= to,
            _ => true,
        };
    starts_before_end(a, b) && starts_before_end(b, a)
}

fn sorted_subdirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// A folder holding `contract.toml` is a bundle (and is not searched further); otherwise
/// its subfolders are searched, hidden ones skipped. A subfolder that is a symbolic link
/// whose target lies outside `root` (the tenant's resolved folder) is not followed but put
/// in `escapes`: through it one tenant could serve another's contracts.
fn find_bundles(
    dir: &Path,
    root: &Path,
    depth: usize,
    out: &mut Vec<PathBuf>,
    escapes: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    if dir.join("contract.toml").is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    for sub in sorted_subdirs(dir)? {
        let is_link = std::fs::symlink_metadata(&sub).is_ok_and(|m| m.file_type().is_symlink());
        if is_link
            && !sub
                .canonicalize()
                .is_ok_and(|target| target.starts_with(root))
        {
            escapes.push(sub);
            continue;
        }
        find_bundles(&sub, root, depth + 1, out, escapes)?;
    }
    Ok(())
}

/// Runs every `tests/*.toml` case of a bundle: the number passed, or one message per
/// failure (an unreadable file is named by its path in the bundle, not the server's).
fn run_tests(contract: &Contract, bundle: &Path) -> Result<usize, Vec<String>> {
    let report = aftersale_core::cases::run_bundle_cases(contract, bundle);
    let failures: Vec<String> = report
        .files
        .iter()
        .flat_map(|file| match &file.cases {
            Err(CaseFileProblem::Unreadable(aftersale_core::LoadError::Io { message, .. })) => {
                vec![format!("cannot read `{}`: {message}", file.path)]
            }
            _ => file.failures(),
        })
        .collect();
    if failures.is_empty() {
        Ok(report.passed())
    } else {
        Err(failures)
    }
}
