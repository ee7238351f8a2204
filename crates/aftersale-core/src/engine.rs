//! The [`Engine`]: the plugins and default limits a host offers, and loading bundles into
//! compiled, immutable [`Contract`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use chrono_tz::Tz;
use rhai::{Dynamic, Scope, AST};

use crate::bundle::BundleSource;
use crate::contract::{CompiledTerm, Contract};
use crate::deps::read_dependencies;
use crate::error::{LoadError, LoadErrors, Location};
use crate::graph::TermGraph;
use crate::limits::Limits;
use crate::manifest::{manifest_location, parse_limits, parse_manifest, Manifest, MANIFEST_FILE};
use crate::plugin::{FunctionDoc, JsonForms, Plugin, PluginContext, Registrar};
use crate::rules::compile_rules;
use crate::runner::ScriptCache;
use crate::sandbox::sandboxed_engine;
use crate::schema::{bound_date, compile_schema};
use crate::value::{json_to_dynamic, parse_exact_toml, toml_item_to_json};
use crate::vocabulary::CorePlugin;

/// The variables every script has in scope, in the order evaluation pushes them (`terms`
/// last, since it is the one that changes from term to term).
pub(crate) const SCOPE_VARIABLES: [&str; 4] = ["facts", "params", "as_of", "terms"];

/// Loads bundles with a chosen set of plugins and default limits.
///
/// ```
/// use aftersale_core::{BundleSource, Engine, Request, DateTime};
///
/// let engine = Engine::builder().build();
/// let source = BundleSource::new("demo")
///     .with_file("contract.toml", "[contract]\nid = \"demo\"\nversion = \"1\"\n[terms.total]\n")
///     .with_file("terms/total.rhai", "facts.price * 2");
/// let contract = engine.load(&source).unwrap();
/// let as_of = contract.parse_as_of("2026-01-01").unwrap();
/// let decision = contract.evaluate(&Request::new(serde_json::json!({"price": 0.15}), as_of)).unwrap();
/// assert_eq!(serde_json::to_string(&decision.outputs).unwrap(), r#"{"total":0.30}"#);
/// ```
#[derive(Clone)]
pub struct Engine {
    plugins: Vec<Arc<dyn Plugin>>,
    limits: Limits,
    coverage: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("plugins", &self.plugin_names())
            .field("limits", &self.limits)
            .finish()
    }
}

/// Configures an [`Engine`].
#[derive(Default)]
pub struct EngineBuilder {
    plugins: Vec<Arc<dyn Plugin>>,
    limits: Limits,
    coverage: bool,
}

impl EngineBuilder {
    /// Offers a plugin to contracts (they still have to name it in `plugins`). A later
    /// plugin with the same name replaces an earlier one.
    #[must_use]
    pub fn plugin(mut self, plugin: impl Plugin) -> Self {
        let plugin: Arc<dyn Plugin> = Arc::new(plugin);
        self.plugins.retain(|p| p.name() != plugin.name());
        self.plugins.push(plugin);
        self
    }

    /// Default limits for contracts that do not set their own in `[limits]`.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Loads contracts instrumented for [`crate::coverage::Coverage`]: their scripts compile
    /// unoptimised and report every node they evaluate. For test runs, not for serving.
    #[must_use]
    pub fn coverage(mut self, on: bool) -> Self {
        self.coverage = on;
        self
    }

    /// The engine.
    pub fn build(self) -> Engine {
        Engine {
            plugins: self.plugins,
            limits: self.limits,
            coverage: self.coverage,
        }
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::builder().build()
    }
}

fn compile_scope() -> Scope<'static> {
    let mut scope = Scope::new();
    // Plain variables, never constants: constants would be baked into the compiled script.
    for name in SCOPE_VARIABLES {
        scope.push(name, Dynamic::UNIT);
    }
    scope
}

/// `[params]` as a rhai value, numbers with the digits written in `contract.toml`.
fn exact_params(text: &str) -> Result<Dynamic, String> {
    let doc = parse_exact_toml(text)?;
    let params = match doc.get("params") {
        Some(item) => toml_item_to_json(item)?,
        None => serde_json::Value::Object(serde_json::Map::new()),
    };
    json_to_dynamic(&params, "params")
}

fn is_term_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_contract_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A term's script path, checked to stay inside the bundle.
fn script_path(name: &str, section: &crate::manifest::TermSection) -> Result<String, String> {
    let Some(script) = &section.script else {
        return Ok(format!("terms/{name}.rhai"));
    };
    let path = script.get_ref().trim_start_matches("./");
    let escapes = path.starts_with('/') || path.split(['/', '\\']).any(|part| part == "..");
    if escapes || !path.ends_with(".rhai") {
        return Err(format!("`{path}` must be a .rhai file inside the bundle"));
    }
    Ok(path.to_string())
}

/// What loading one term produced before the graph is built.
struct TermDraft {
    name: String,
    description: Option<String>,
    file: String,
    ast: AST,
    reads: crate::deps::Reads,
}

impl Engine {
    /// A builder; with no plugins added, contracts have the core vocabulary only.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The names of the plugins contracts may name (`core` is always on and not listed).
    pub fn plugin_names(&self) -> Vec<&str> {
        self.plugins.iter().map(|p| p.name()).collect()
    }

    /// The plugins offered, with their descriptions.
    pub fn plugins(&self) -> &[Arc<dyn Plugin>] {
        &self.plugins
    }

    /// Every function the core vocabulary and the offered plugins documented, in the order
    /// they registered them (the core's first): the function list an author reads.
    pub fn functions(&self) -> Vec<FunctionDoc> {
        let ctx = PluginContext {
            contract_id: String::new(),
            timezone: Tz::UTC,
        };
        let mut scratch = rhai::Engine::new_raw();
        register_plugins(&mut scratch, &self.plugins, &ctx).1
    }

    /// Reads a bundle folder and loads it, see [`Engine::load`].
    pub fn load_dir(&self, dir: &Path) -> Result<Contract, LoadErrors> {
        self.load(&BundleSource::from_dir(dir)?)
    }

    /// Parses the manifest, compiles every term's script once, reads dependencies and builds
    /// the graph. Reports every problem found, not just the first. Any thread may call it:
    /// when the caller's stack is too small to parse the deepest scripts the limits allow,
    /// loading runs on a larger one (see `stack.rs`).
    pub fn load(&self, source: &BundleSource) -> Result<Contract, LoadErrors> {
        crate::stack::with_stack_for_loading(|| self.load_here(source))
    }

    fn load_here(&self, source: &BundleSource) -> Result<Contract, LoadErrors> {
        let mut errors = Vec::new();
        let fail = |bundle: &str, errors: Vec<LoadError>| LoadErrors {
            bundle: bundle.to_string(),
            errors,
        };
        let Some(text) = source.files.get(MANIFEST_FILE) else {
            return Err(fail(&source.name, vec![LoadError::MissingManifest]));
        };
        let manifest = parse_manifest(text).map_err(|e| fail(&source.name, vec![e]))?;
        let id = manifest.contract.id.get_ref().clone();
        let bundle = if is_contract_id(&id) {
            id.clone()
        } else {
            source.name.clone()
        };
        let at = |span: std::ops::Range<usize>| manifest_location(text, span);

        if !is_contract_id(&id) {
            errors.push(LoadError::InvalidValue {
                field: "contract.id".into(),
                location: at(manifest.contract.id.span()),
                message: format!("`{id}` must be lowercase letters, digits, `_` and `-`"),
            });
        }
        if manifest.contract.version.get_ref().trim().is_empty() {
            errors.push(LoadError::InvalidValue {
                field: "contract.version".into(),
                location: at(manifest.contract.version.span()),
                message: "must not be empty".into(),
            });
        }
        let timezone = match &manifest.contract.timezone {
            None => chrono_tz::UTC,
            Some(tz) => Tz::from_str(tz.get_ref()).unwrap_or_else(|_| {
                errors.push(LoadError::InvalidValue {
                    field: "contract.timezone".into(),
                    location: at(tz.span()),
                    message: format!(
                        "`{}` is not an IANA time zone name (like `Europe/Rome`)",
                        tz.get_ref()
                    ),
                });
                chrono_tz::UTC
            }),
        };
        let effective_from = bound_date(
            text,
            "contract.effective_from",
            manifest.contract.effective_from.as_ref(),
            &mut errors,
        );
        let effective_to = bound_date(
            text,
            "contract.effective_to",
            manifest.contract.effective_to.as_ref(),
            &mut errors,
        );
        if let (Some(from), Some(to), Some(spanned)) = (
            effective_from,
            effective_to,
            &manifest.contract.effective_to,
        ) {
            if to < from {
                errors.push(LoadError::InvalidValue {
                    field: "contract.effective_to".into(),
                    location: at(spanned.span()),
                    message: format!("{to} is before effective_from {from}"),
                });
            }
        }
        let limits = match &manifest.limits {
            None => self.limits.clone(),
            Some(table) => parse_limits(text, table, &self.limits).unwrap_or_else(|e| {
                errors.push(e);
                self.limits.clone()
            }),
        };
        let plugins = self.plugins_named(&manifest, text, &mut errors);
        let params = match exact_params(text) {
            // Pushed once per evaluation as a constant. Not a shared value: rhai lets a script
            // write through a shared constant, which would leak into other terms.
            Ok(p) => p,
            Err(message) => {
                errors.push(LoadError::InvalidValue {
                    field: "params".into(),
                    location: Location::file(MANIFEST_FILE),
                    message,
                });
                Dynamic::UNIT
            }
        };

        let ctx = PluginContext {
            contract_id: id.clone(),
            timezone,
        };
        let mut rhai_engine = sandboxed_engine(&limits);
        if self.coverage {
            crate::coverage::instrument(&mut rhai_engine);
        }
        let (json_forms, _) = register_plugins(&mut rhai_engine, &plugins, &ctx);

        let drafts =
            self.compile_terms(source, &manifest, text, &rhai_engine, &limits, &mut errors);
        let index: BTreeMap<&str, usize> = drafts
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.as_str(), i))
            .collect();
        let mut deps = vec![Vec::new(); drafts.len()];
        for (i, draft) in drafts.iter().enumerate() {
            for (name, pos) in &draft.reads.terms {
                match index.get(name.as_str()) {
                    Some(&j) => deps[i].push(j),
                    // Declared but failed to compile: reported already.
                    None if manifest.terms.keys().any(|k| k.get_ref() == name) => {}
                    None => errors.push(LoadError::UnknownTerm {
                        term: draft.name.clone(),
                        name: name.clone(),
                        location: Location::from_position(&draft.file, *pos),
                    }),
                }
            }
        }
        let graph = match TermGraph::build(&deps) {
            Ok(g) => Some(g),
            Err(cycles) => {
                for cycle in cycles {
                    errors.push(cycle_error(&cycle.0, &drafts));
                }
                None
            }
        };
        let outputs = self.outputs(&manifest, text, &index, graph.as_ref(), &mut errors);
        let typed_facts = manifest.contract.typed_facts.as_ref();
        if let (Some(typed), None) = (typed_facts, &manifest.facts) {
            if *typed.get_ref() {
                errors.push(LoadError::InvalidValue {
                    field: "contract.typed_facts".into(),
                    location: manifest_location(text, typed.span()),
                    message: "typed facts need a facts schema ([facts.<name>] tables)".into(),
                });
            }
        }
        let schema = match (&manifest.facts, &manifest.as_of) {
            (Some(facts), as_of) => Some(compile_schema(
                timezone,
                typed_facts.is_some_and(|t| *t.get_ref()),
                text,
                facts,
                as_of.as_ref(),
                &mut errors,
            )),
            (None, Some(as_of)) => {
                errors.push(LoadError::InvalidValue {
                    field: "as_of".into(),
                    location: manifest_location(text, as_of.min.span()),
                    message: "[as_of] describes generated requests and needs a facts schema ([facts.<name>] tables)".into(),
                });
                None
            }
            (None, None) => None,
        };
        let constraints = compile_rules(
            "constraints",
            &manifest.constraints,
            text,
            &rhai_engine,
            &mut errors,
        );
        let invariants = compile_rules(
            "invariants",
            &manifest.invariants,
            text,
            &rhai_engine,
            &mut errors,
        );
        let Some(graph) = graph else {
            return Err(fail(&bundle, errors));
        };
        if !errors.is_empty() {
            return Err(fail(&bundle, errors));
        }
        let terms = drafts
            .into_iter()
            .zip(deps)
            .map(|(d, deps)| CompiledTerm {
                name: d.name,
                description: d.description,
                file: d.file,
                cache: ScriptCache::new(&d.ast, !self.coverage),
                ast: d.ast,
                deps,
                reads: d.reads,
            })
            .collect();
        Ok(Contract::new(crate::contract::ContractParts {
            id,
            version: manifest.contract.version.get_ref().clone(),
            description: manifest.contract.description.clone(),
            effective_from,
            effective_to,
            timezone,
            plugins,
            json_forms,
            params,
            limits,
            engine: rhai_engine,
            terms,
            graph,
            outputs,
            schema,
            constraints,
            invariants,
            coverage: self.coverage,
        }))
    }

    fn plugins_named(
        &self,
        manifest: &Manifest,
        text: &str,
        errors: &mut Vec<LoadError>,
    ) -> Vec<Arc<dyn Plugin>> {
        let mut chosen: Vec<Arc<dyn Plugin>> = Vec::new();
        for name in &manifest.contract.plugins {
            if name.get_ref() == "core" {
                continue;
            }
            match self.plugins.iter().find(|p| p.name() == name.get_ref()) {
                Some(p) if !chosen.iter().any(|c| c.name() == p.name()) => {
                    chosen.push(Arc::clone(p))
                }
                Some(_) => {}
                None => errors.push(LoadError::UnknownPlugin {
                    name: name.get_ref().clone(),
                    location: manifest_location(text, name.span()),
                    available: {
                        let names = self.plugin_names();
                        if names.is_empty() {
                            "no plugins".to_string()
                        } else {
                            names.join(", ")
                        }
                    },
                }),
            }
        }
        chosen
    }

    fn compile_terms(
        &self,
        source: &BundleSource,
        manifest: &Manifest,
        text: &str,
        engine: &rhai::Engine,
        limits: &Limits,
        errors: &mut Vec<LoadError>,
    ) -> Vec<TermDraft> {
        let scope = compile_scope();
        let mut drafts = Vec::new();
        let mut used_files = BTreeSet::new();
        for (name, section) in &manifest.terms {
            let name_loc = manifest_location(text, name.span());
            let name = name.get_ref();
            if !is_term_name(name) {
                errors.push(LoadError::InvalidValue {
                    field: format!("terms.{name}"),
                    location: name_loc.clone(),
                    message: "a term name must be lowercase letters, digits and `_`, not starting with a digit".into(),
                });
            }
            let file = match script_path(name, section) {
                Ok(f) => f,
                Err(message) => {
                    errors.push(LoadError::InvalidValue {
                        field: format!("terms.{name}.script"),
                        location: name_loc,
                        message,
                    });
                    continue;
                }
            };
            used_files.insert(file.clone());
            let Some(script) = source.files.get(&file) else {
                errors.push(LoadError::MissingScript {
                    term: name.clone(),
                    location: Location::file(&file),
                });
                continue;
            };
            if script.len() > limits.max_script_bytes {
                errors.push(LoadError::Forbidden {
                    term: name.clone(),
                    what: format!(
                        "script size ({} bytes, limit {})",
                        script.len(),
                        limits.max_script_bytes
                    ),
                    location: Location::file(&file),
                });
                continue;
            }
            let scan = crate::deps::scan_tokens(engine, script);
            if let Some(pos) = scan.oversized_map {
                errors.push(LoadError::Forbidden {
                    term: name.clone(),
                    what: crate::deps::map_literal_refused(),
                    location: Location::from_position(&file, pos),
                });
                continue;
            }
            if let Some((pos, literal)) = scan.inexact_decimal {
                errors.push(LoadError::Syntax {
                    term: name.clone(),
                    location: Location::from_position(&file, pos),
                    message: format!(
                        "decimal literal `{literal}` has more digits than a decimal holds exactly (28 significant digits, 28 decimal places)"
                    ),
                });
                continue;
            }
            let mut ast = match engine.compile_with_scope(&scope, script) {
                Ok(ast) => ast,
                Err(e) => {
                    errors.push(LoadError::Syntax {
                        term: name.clone(),
                        location: Location::from_position(&file, e.position()),
                        message: e.err_type().to_string(),
                    });
                    continue;
                }
            };
            ast.set_source(file.as_str());
            let reads = read_dependencies(&ast);
            for pos in &reads.dynamic_terms {
                errors.push(LoadError::DynamicTermsAccess {
                    term: name.clone(),
                    location: Location::from_position(&file, *pos),
                });
            }
            for (what, pos) in &reads.forbidden {
                errors.push(LoadError::Forbidden {
                    term: name.clone(),
                    what: what.clone(),
                    location: Location::from_position(&file, *pos),
                });
            }
            drafts.push(TermDraft {
                name: name.clone(),
                description: section.description.clone(),
                file,
                ast,
                reads,
            });
        }
        for file in source.files.keys() {
            if let Some(stem) = file
                .strip_prefix("terms/")
                .and_then(|f| f.strip_suffix(".rhai"))
            {
                if !used_files.contains(file) {
                    errors.push(LoadError::UndeclaredScript {
                        name: stem.to_string(),
                        location: Location::file(file),
                    });
                }
            }
        }
        drafts
    }

    fn outputs(
        &self,
        manifest: &Manifest,
        text: &str,
        index: &BTreeMap<&str, usize>,
        graph: Option<&TermGraph>,
        errors: &mut Vec<LoadError>,
    ) -> Vec<usize> {
        match &manifest.contract.outputs {
            Some(names) => names
                .iter()
                .filter_map(|n| match index.get(n.get_ref().as_str()) {
                    Some(&i) => Some(i),
                    None => {
                        // A term that failed to compile is reported already.
                        if !manifest.terms.keys().any(|k| k.get_ref() == n.get_ref()) {
                            errors.push(LoadError::UnknownOutput {
                                name: n.get_ref().clone(),
                                location: manifest_location(text, n.span()),
                            });
                        }
                        None
                    }
                })
                .collect(),
            None => graph.map(TermGraph::sinks).unwrap_or_default(),
        }
    }
}

fn cycle_error(cycle: &[usize], drafts: &[TermDraft]) -> LoadError {
    let names: Vec<String> = cycle
        .iter()
        .filter_map(|&i| drafts.get(i))
        .map(|d| d.name.clone())
        .collect();
    let location = match (
        cycle.first().and_then(|&i| drafts.get(i)),
        cycle.get(1).and_then(|&i| drafts.get(i)),
    ) {
        (Some(first), Some(second)) => match first.reads.terms.get(&second.name) {
            Some(pos) => Location::from_position(&first.file, *pos),
            None => Location::file(&first.file),
        },
        _ => Location::file(MANIFEST_FILE),
    };
    LoadError::Cycle {
        cycle: names,
        location,
    }
}

/// Registers the core vocabulary and then `plugins` on a contract's engine, each through
/// its own [`Registrar`]: the JSON forms of their types, and the functions they documented.
fn register_plugins(
    engine: &mut rhai::Engine,
    plugins: &[Arc<dyn Plugin>],
    ctx: &PluginContext,
) -> (JsonForms, Vec<FunctionDoc>) {
    let mut forms = JsonForms::default();
    let mut docs = Vec::new();
    CorePlugin.register(
        &mut Registrar::new(CorePlugin.name(), engine, &mut forms, &mut docs),
        ctx,
    );
    for plugin in plugins {
        plugin.register(
            &mut Registrar::new(plugin.name(), engine, &mut forms, &mut docs),
            ctx,
        );
    }
    (forms, docs)
}
