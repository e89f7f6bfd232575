//! A registered resource's OpenAPI operations and schemas, built from the same declarations
//! as its routes (the `Resource` impl, its fields and their rules, what its lists accept),
//! so the documentation cannot drift from what the server does. utoipa's `#[utoipa::path]` only
//! annotates concrete functions; our handlers are generic, so operations are assembled with
//! utoipa's builder types here instead.

use domain::auth::Permission;
use domain::fields::{Field, Fields};
use domain::query::{
    FieldKind, FilterParam, Lookup, MAX_IN_VALUES, MAX_SEARCH_TERMS, QuerySpec, names,
};
use serde_json::{Value, json};
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, ParameterStyle,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{
    Content, HeaderBuilder, PathItem, Paths, RefOr, Required, ResponseBuilder, Schema,
};

use super::actions::Actions;
use super::metadata::{ResourceInfo, number};
use super::pagination::{self, Pagination};
use super::relations::{self, Relation};
use super::resource::{Resource, Writable};
use super::router;

/// Component schemas every resource's operations refer to.
pub const ERROR_DETAIL: &str = "ErrorDetail";
pub const VALIDATION_ERROR: &str = "ValidationError";
pub const METADATA: &str = "Metadata";

/// What one resource adds to the document.
#[derive(Clone)]
pub struct ResourceDoc {
    pub paths: Paths,
    pub schemas: Vec<(String, RefOr<Schema>)>,
    pub tag: (String, String),
    /// The resource's own policy, if it sets one (`Resource::PERMISSION`).
    pub permission: Option<Permission>,
}

/// Names of the security schemes in `components`.
pub const TOKEN_AUTH: &str = "TokenAuth";
pub const BEARER_AUTH: &str = "BearerAuth";

impl ResourceDoc {
    /// Leaves out the read operations `actions` does not have, and the detail path when
    /// no detail action is registered.
    fn retain(&mut self, actions: Actions, names: &Names) {
        if !actions.detail() {
            self.paths.paths.remove(&names.detail_path);
        } else if let Some(item) = self.paths.paths.get_mut(&names.detail_path)
            && !actions.has(Actions::RETRIEVE)
        {
            item.get = None;
        }
        if let Some(item) = self.paths.paths.get_mut(&names.list_path)
            && !actions.has(Actions::LIST)
        {
            item.get = None;
        }
    }

    /// States who may call each operation under the resource's policy (its own, or the
    /// configured one), the answers authentication and throttling add, and those every
    /// operation shares.
    pub fn secure(&mut self, configured: Permission, throttled: bool) {
        let policy = self.permission.unwrap_or(configured);
        for item in self.paths.paths.values_mut() {
            let operations = [
                (&mut item.get, true),
                (&mut item.options, true),
                (&mut item.post, false),
                (&mut item.put, false),
                (&mut item.patch, false),
                (&mut item.delete, false),
            ];
            for (operation, safe) in operations {
                let Some(operation) = operation else { continue };
                common_answers(operation);
                let token = [
                    SecurityRequirement::new::<_, _, String>(TOKEN_AUTH, []),
                    SecurityRequirement::new::<_, _, String>(BEARER_AUTH, []),
                ];
                let required = policy.requires_token(safe);
                operation.security = Some(if required {
                    token.to_vec()
                } else {
                    std::iter::once(SecurityRequirement::default())
                        .chain(token)
                        .collect()
                });
                let unauthorized = if required {
                    "No token was sent (this operation needs one), or the token is malformed, unknown or revoked."
                } else {
                    "The token sent is malformed, unknown or revoked (no token is needed here)."
                };
                let challenge = header("The schemes to authenticate with.");
                operation.responses.responses.insert(
                    "401".into(),
                    error(unauthorized)
                        .header("WWW-Authenticate", challenge)
                        .build()
                        .into(),
                );
                if throttled {
                    let throttle = error(
                        "Too many requests from this client; `Retry-After` says when to try again.",
                    )
                    .header("Retry-After", header("Seconds to wait."));
                    operation
                        .responses
                        .responses
                        .insert("429".into(), throttle.build().into());
                }
            }
        }
    }
}

/// A schema from its JSON form (leaf schemas read best that way).
pub fn schema(value: Value) -> RefOr<Schema> {
    serde_json::from_value(value).expect("a valid schema literal")
}

fn reference(name: &str) -> RefOr<Schema> {
    schema(json!({"$ref": format!("#/components/schemas/{name}")}))
}

fn json_content(schema: RefOr<Schema>) -> Content {
    Content::new(Some(schema))
}

fn header(description: &str) -> utoipa::openapi::Header {
    HeaderBuilder::new()
        .schema(Some(schema(json!({"type": "string"}))))
        .description(Some(description))
        .build()
}

/// A response carrying `X-Request-Id` (the client's, when it sent an acceptable one), with a
/// JSON body when `body` is given.
pub fn response(description: &str, body: Option<RefOr<Schema>>) -> ResponseBuilder {
    let mut response = ResponseBuilder::new().description(description).header(
        "X-Request-Id",
        header("The request's id: the client's, echoed, or a generated one."),
    );
    if let Some(body) = body {
        response = response.content("application/json", json_content(body));
    }
    response
}

pub fn error(description: &str) -> ResponseBuilder {
    response(description, Some(reference(ERROR_DETAIL)))
}

/// The 503 every operation can give.
fn unavailable() -> ResponseBuilder {
    error(
        "The database is unavailable, or the request ran past the configured time limit; \
         `Retry-After` says when to retry. Without it, the request's change may still be \
         applied (the database does not bound its statements' time).",
    )
    .header("Retry-After", header("Seconds to wait."))
}

/// A body that is either form of error: fields with their messages, or `detail`.
fn any_error() -> RefOr<Schema> {
    schema(json!({"anyOf": [
        {"$ref": format!("#/components/schemas/{VALIDATION_ERROR}")},
        {"$ref": format!("#/components/schemas/{ERROR_DETAIL}")},
    ]}))
}

/// Answers any operation can give, whatever it does: a `Host` the service does not answer
/// to (400 with `detail`), and the database unavailable or the time limit passed (503).
fn common_answers(operation: &mut Operation) {
    const HOST: &str = "a `Host` header the service does not answer to (`server.allowed_hosts`)";
    let responses = &mut operation.responses.responses;
    match responses.get_mut("400") {
        Some(RefOr::T(bad)) => {
            if !bad.description.contains("`Host`") {
                bad.description = format!("{} Or, with `detail`, {HOST}.", bad.description);
            }
            bad.content
                .insert("application/json".into(), json_content(any_error()).into());
        }
        _ => {
            let bad = error(&format!("{}{}.", HOST[..1].to_uppercase(), &HOST[1..]));
            responses.insert("400".into(), bad.build().into());
        }
    }
    responses
        .entry("503".into())
        .or_insert_with(|| unavailable().build().into());
}

fn with_etag(response: ResponseBuilder) -> ResponseBuilder {
    response.header(
        "ETag",
        header("Strong entity tag of the row's current version."),
    )
}

pub(crate) fn parameter(
    name: &str,
    location: ParameterIn,
    schema_value: Value,
    description: &str,
) -> ParameterBuilder {
    let required = if matches!(location, ParameterIn::Path) {
        Required::True
    } else {
        Required::False
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(required)
        .schema(Some(schema(schema_value)))
        .description(Some(description))
}

/// JSON Schema of a query-string value of `kind`, bounded as the parser accepts it.
fn kind_schema(kind: FieldKind) -> Value {
    match kind {
        FieldKind::Integer => {
            json!({"type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX})
        }
        FieldKind::Float => {
            json!({"type": "number", "format": "double", "minimum": f64::MIN, "maximum": f64::MAX})
        }
        // Exactly what the parser takes (`true`, `false` in any case, `1`, `0`). In a query
        // string a boolean and the text `true` are the same, so both types are valid.
        FieldKind::Boolean => json!({"type": ["boolean", "string"], "pattern": BOOLEAN_PATTERN}),
        FieldKind::Text => json!({"type": "string", "pattern": "^[^\\u0000]*$"}),
        FieldKind::DateTime => json!({"type": "string", "format": "date-time"}),
    }
}

const BOOLEAN_PATTERN: &str = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)$";

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    }
}

struct Names {
    path: String,
    tag: String,
    one: String,
    list_path: String,
    detail_path: String,
}

fn names<R: Resource>() -> Names {
    let path = R::PATH.trim_matches('/').to_string();
    let one = R::NAME.to_lowercase();
    Names {
        list_path: format!("/{path}/"),
        detail_path: format!("/{path}/{{id}}"),
        tag: path.clone(),
        one: format!("{} {one}", article(&one)),
        path,
    }
}

/// `If-Match`: RFC 9110's list of entity tags or `*` (empty elements allowed); empty or
/// blank lists no tag, which nothing matches (412).
const IF_MATCH_PATTERN: &str = r#"^\s*(\*|(W/)?"[!#-~]*")?(\s*,\s*(\*|(W/)?"[!#-~]*")?)*\s*$"#;

/// The `If-Match` header: a list of entity tags, as [`IF_MATCH_PATTERN`] reads it.
fn if_match_parameter(description: &str) -> ParameterBuilder {
    parameter(
        "If-Match",
        ParameterIn::Header,
        json!({"type": "string", "pattern": IF_MATCH_PATTERN}),
        description,
    )
}

/// `?expand=`, when the resource has relations.
fn expand_parameter(relations: &[Relation]) -> Option<ParameterBuilder> {
    let mut names: Vec<&str> = relations.iter().map(|r| r.name).collect();
    if names.is_empty() {
        return None;
    }
    // An empty element (`expand=`, `expand=category,`) is no relation, as the parser reads it.
    names.push("");
    Some({
        parameter(
            relations::EXPAND,
            ParameterIn::Query,
            json!({"type": "array", "items": {"type": "string", "enum": names}}),
            "Comma-separated relations to show as the related row's full representation instead of its key \
             (`null` stays `null`). One extra query per page, whatever its size.",
        )
        .style(Some(ParameterStyle::Form))
        .explode(Some(false))
    })
}

fn list_parameters(
    spec: &QuerySpec,
    styles: Pagination,
    relations: &[Relation],
) -> Vec<ParameterBuilder> {
    let mut parameters = pagination::parameters(styles);
    let mut orderings: Vec<String> = spec
        .ordering_names()
        .into_iter()
        .flat_map(|f| [format!("-{f}"), f])
        .collect();
    // An empty element (`ordering=`) is no field: the default ordering, as the parser reads it.
    orderings.push(String::new());
    let mut ordering_help = format!(
        "Comma-separated fields to order by, `-` for descending. Default: {}.",
        spec.default_ordering.join(",")
    );
    if !spec.relations.is_empty() {
        ordering_help.push_str(
            " `<relation>__<field>` orders by the related row's field; rows without one come last \
             ascending and first descending. No index serves it: on lists the planner puts above \
             the configured threshold it is a 400.",
        );
    }
    parameters.extend(expand_parameter(relations));
    parameters.push(
        parameter(
            names::ORDERING,
            ParameterIn::Query,
            json!({"type": "array", "items": {"type": "string", "enum": orderings}}),
            &ordering_help,
        )
        .style(Some(ParameterStyle::Form))
        .explode(Some(false)),
    );
    if !spec.search.is_empty() {
        parameters.push(parameter(
            names::SEARCH,
            ParameterIn::Query,
            kind_schema(FieldKind::Text),
            &format!(
                "Terms (split on spaces and commas, at most {MAX_SEARCH_TERMS}) that must all \
                 appear, case-insensitively, in one of: {}.",
                spec.search.join(", ")
            ),
        ));
    }
    for FilterParam {
        name,
        field,
        via,
        kind,
        lookup,
    } in spec.filter_params()
    {
        let description = match via {
            None if lookup == Lookup::IsNull => {
                format!("Rows without a `{field}` (`true`), or with one (`false`).")
            }
            Some(relation) => format!(
                "Rows whose {relation}'s `{field}` is {} this.",
                lookup.describe()
            ),
            None => format!("Rows whose `{field}` is {} this.", lookup.describe()),
        };
        let built = if lookup == Lookup::In {
            parameter(
                &name,
                ParameterIn::Query,
                json!({"type": "array", "items": kind_schema(kind), "maxItems": MAX_IN_VALUES}),
                &description,
            )
            .style(Some(ParameterStyle::Form))
            .explode(Some(false))
        } else {
            parameter(&name, ParameterIn::Query, kind_schema(kind), &description)
        };
        parameters.push(built);
    }
    parameters
}

fn envelope(item: &str, styles: Pagination) -> RefOr<Schema> {
    let mut envelope = json!({
        "type": "object",
        "description": "A page: page-number and limit/offset pages carry `count` (null with `count=none`); cursor pages do not.",
        "required": ["next", "previous", "results"],
        "properties": {
            "count": {"type": ["integer", "null"], "minimum": 0},
            "next": {"type": ["string", "null"], "format": "uri"},
            "previous": {"type": ["string", "null"], "format": "uri"},
            "results": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}}
        }
    });
    if !pagination::counted(styles) {
        envelope["description"] = json!("A page of rows, with links to the pages either side.");
        if let Some(properties) = envelope["properties"].as_object_mut() {
            properties.remove("count");
        }
    }
    schema(envelope)
}

/// A page, with `X-Count-Kind` when the resource's pagination counts.
fn page_response(page: &str, styles: Pagination) -> ResponseBuilder {
    let response = response("A page of rows.", Some(reference(page)));
    if !pagination::counted(styles) {
        return response;
    }
    response.header(
        "X-Count-Kind",
        HeaderBuilder::new()
            .schema(Some(schema(json!({"type": "string", "enum": ["exact", "estimated"]}))))
            .description(Some("Whether `count` is exact or the planner's estimate (see the `count` parameter); absent when the page has no count."))
            .build(),
    )
}

fn key_parameter<R: Resource>(query: &QuerySpec) -> ParameterBuilder {
    let kind = query.kind_of(query.primary_key).unwrap_or(FieldKind::Text);
    parameter(
        "id",
        ParameterIn::Path,
        kind_schema(kind),
        &format!("The {}'s `{}`.", R::NAME.to_lowercase(), query.primary_key),
    )
}

/// The three shapes of a resource's fields in the document.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// What clients read: every shown field.
    Read,
    /// POST and PUT bodies: the writable fields, required ones listed.
    Create,
    /// PATCH bodies: the writable fields, none required.
    Patch,
}

/// Text that is not only whitespace (as trimming sees it: also U+001C to U+001F, which
/// JavaScript's `\s` leaves out), with no NUL characters (which text columns cannot hold); or
/// just no NUL characters.
const NOT_BLANK: &str = r"^[^\x00]*[^\s\x00\x1c-\x1f][^\x00]*$";
const NO_NUL: &str = r"^[^\x00]*$";

/// One field's JSON Schema, from its rules. A relation's field reads as the key or, with
/// `expand`, the related row (`oneOf`).
fn field_schema(field: &Field, shape: Shape) -> Value {
    let key = plain_field_schema(field, shape);
    match field.related {
        Some(target) if shape == Shape::Read => {
            let description = key.get("description").cloned();
            let expanded = json!({"$ref": format!("#/components/schemas/{target}")});
            let mut one_of = json!({"oneOf": [key, expanded]});
            if let Some(description) = description {
                one_of["description"] = description;
            }
            one_of
        }
        _ => key,
    }
}

fn plain_field_schema(field: &Field, shape: Shape) -> Value {
    let mut schema = match field.kind {
        FieldKind::Integer => json!({"type": "integer", "format": "int64"}),
        FieldKind::Float => json!({"type": "number", "format": "double"}),
        FieldKind::Boolean => json!({"type": "boolean"}),
        FieldKind::Text => json!({"type": "string"}),
        FieldKind::DateTime => json!({"type": "string", "format": "date-time"}),
    };
    if field.nullable {
        schema["type"] = json!([schema["type"], "null"]);
    }
    let notes: Vec<&str> = field
        .help_text
        .into_iter()
        .chain(field.unique_note())
        .collect();
    if !notes.is_empty() {
        schema["description"] = json!(notes.join(" "));
    }
    if !field.writable() {
        schema["readOnly"] = json!(true);
        return schema;
    }
    // OpenAPI 3.1's `examples` (JSON Schema's), which Swagger UI's sample body reads first;
    // the older `example` could not say `null` (it reads as no example).
    if let Some(example) = &field.example {
        schema["examples"] = json!([example]);
    }
    if let Some(max) = field.max_length {
        schema["maxLength"] = json!(max);
    }
    if let Some(min) = field.min_chars() {
        schema["minLength"] = json!(min);
    }
    if let Some(min) = field.minimum {
        schema["minimum"] = number(min);
    }
    if let Some(max) = field.maximum {
        schema["maximum"] = number(max);
    }
    if shape != Shape::Read && field.kind == FieldKind::Text {
        let blank_allowed = field.min_chars().unwrap_or(0) == 0;
        schema["pattern"] = json!(if blank_allowed { NO_NUL } else { NOT_BLANK });
    }
    if shape == Shape::Create
        && let Some(default) = &field.default
    {
        schema["default"] = default.clone();
    }
    schema
}

/// The object schema of a resource's fields in one shape.
fn fields_schema(fields: &Fields, shape: Shape) -> RefOr<Schema> {
    let shown: Vec<&Field> = match shape {
        Shape::Read => fields.shown().collect(),
        Shape::Create | Shape::Patch => fields.writable().collect(),
    };
    let properties: serde_json::Map<String, Value> = shown
        .iter()
        .map(|f| (f.name.to_string(), field_schema(f, shape)))
        .collect();
    let (description, required): (String, Vec<&str>) = match shape {
        Shape::Read => (
            fields.description.to_string(),
            shown.iter().map(|f| f.name).collect(),
        ),
        Shape::Create => (
            "Body of `POST` (create) and `PUT` (full replace): every writable field; one with a \
             `default` may be omitted and then gets it."
                .into(),
            shown
                .iter()
                .filter(|f| f.required())
                .map(|f| f.name)
                .collect(),
        ),
        Shape::Patch => (
            "Body of `PATCH`: only the fields sent change; `null` is a value only where the \
             type allows it."
                .into(),
            Vec::new(),
        ),
    };
    let mut object =
        json!({"type": "object", "description": description, "properties": properties});
    if !required.is_empty() {
        object["required"] = json!(required);
    }
    if shape != Shape::Read {
        object["additionalProperties"] = json!(false);
    }
    schema(object)
}

fn options_operation<R: Resource>(
    names: &Names,
    query: &QuerySpec,
    detail: bool,
) -> utoipa::openapi::path::Operation {
    let mut operation = OperationBuilder::new()
        .tag(names.tag.clone())
        .operation_id(Some(format!("{}_{}", names.path, if detail { "detail_options" } else { "list_options" })))
        .summary(Some(format!("Describe {}", if detail { &names.one } else { &names.path })))
        .description(Some("DRF-style metadata: the fields, their types, limits and whether they are required or read-only; lists add filters, search and ordering fields."))
        .response("200", response("Metadata, with the allowed methods in `Allow`.", Some(reference(METADATA))).header("Allow", header("The methods this route accepts.")));
    if detail {
        operation = operation.parameter(key_parameter::<R>(query)).response(
            "404",
            error("No such row, or the path id is not a valid id."),
        );
    }
    operation.build()
}

/// The operations of a read-only resource.
pub fn read_only<R: Resource>(info: &ResourceInfo) -> ResourceDoc {
    let mut doc = read_operations::<R>(info);
    nest(&mut doc, info, &names::<R>());
    doc
}

/// The list and retrieve operations every resource has.
fn read_operations<R: Resource>(info: &ResourceInfo) -> ResourceDoc {
    let names = names::<R>();
    let query = &info.query;
    let read = R::NAME.to_string();
    let page = format!("Paginated{}List", R::NAME);
    let description = info.fields.description.to_string();

    let list = OperationBuilder::new()
        .tag(names.tag.clone())
        .operation_id(Some(format!("{}_list", names.path)))
        .summary(Some(format!("List {}", names.path)))
        .description(Some(format!(
            "A page of {}, filtered, searched and ordered as asked. Unknown parameters are ignored; a known parameter with a bad value is a 400 naming it.",
            names.path
        )))
        .parameters(Some(list_parameters(query, info.pagination, &info.relations)))
        .response("200", page_response(&page, info.pagination))
        .response("400", response("A query parameter has a bad value; the body names it.", Some(reference(VALIDATION_ERROR))))
        .response("404", error("A page number past the last page (`Invalid page.`)."))
        .build();

    let mut retrieve = OperationBuilder::new()
        .tag(names.tag.clone())
        .operation_id(Some(format!("{}_retrieve", names.path)))
        .summary(Some(format!("Retrieve {}", names.one)))
        .description(Some("One row with its `ETag`. With `If-None-Match` matching the current tag, 304 and no body."))
        .parameter(key_parameter::<R>(query))
        .parameter(parameter("If-None-Match", ParameterIn::Header, json!({"type": "string"}), "Entity tags of a cached copy; `*` matches any."))
        .parameter(if_match_parameter("Answer only if the row's current `ETag` is one of these (`*`: any existing row); otherwise 412."))
        .response("200", with_etag(response("The row.", Some(reference(&read)))))
        .response("304", with_etag(response("Not modified: the cached copy is current.", None)))
        .response("404", error("No such row, or the path id is not a valid id."))
        .response("412", error("An `If-Match` sent names another version (RFC 9110)."));
    if let Some(expand) = expand_parameter(&info.relations) {
        retrieve = retrieve.parameter(expand);
    }
    let retrieve = retrieve.build();

    let paths = Paths::builder()
        .path(&names.list_path, PathItem::new(HttpMethod::Get, list))
        .path(&names.detail_path, PathItem::new(HttpMethod::Get, retrieve))
        .build();
    let mut doc = ResourceDoc {
        paths,
        schemas: vec![
            (read.clone(), fields_schema(&info.fields, Shape::Read)),
            (page.clone(), envelope(&read, info.pagination)),
        ],
        tag: (names.tag.clone(), description),
        permission: R::PERMISSION,
    };
    for (path, detail) in [(&names.list_path, false), (&names.detail_path, true)] {
        if let Some(item) = doc.paths.paths.get_mut(path.as_str()) {
            item.options = Some(options_operation::<R>(&names, query, detail));
        }
    }
    if !info.relations.is_empty()
        && let Some(get) = doc
            .paths
            .paths
            .get_mut(&names.detail_path)
            .and_then(|item| item.get.as_mut())
    {
        get.responses.responses.insert(
            "400".into(),
            response(
                "`expand` names an unknown relation.",
                Some(reference(VALIDATION_ERROR)),
            )
            .build()
            .into(),
        );
    }
    doc
}

/// drf-nested-routers' routes: per relation, the list and create operations again under
/// `/{target}/{parent}/{path}/`, limited to the rows that refer to the `parent` row.
fn nest(doc: &mut ResourceDoc, info: &ResourceInfo, names: &Names) {
    let Some(list_item) = doc.paths.paths.get(&names.list_path).cloned() else {
        return;
    };
    for relation in &info.relations {
        let pattern = router::nested_pattern(relation.target.path, &names.path);
        let prefix = format!("{}_{}", relation.target.path, names.path);
        let parent = parameter(
            "parent",
            ParameterIn::Path,
            kind_schema(relation.target.key_kind),
            &format!(
                "The key of the {} whose {} these are.",
                relation.target.name.to_lowercase(),
                names.path
            ),
        )
        .build();
        let missing = error(&format!(
            "No {} has this key.",
            relation.target.name.to_lowercase()
        ))
        .build();
        let nested_operation = |operation: &Option<Operation>, id: &str, note: &str| {
            let mut operation = operation.clone()?;
            operation.operation_id = Some(format!("{prefix}_{id}"));
            operation.summary = operation.summary.map(|s| {
                format!(
                    "{s} of {} {}",
                    article(relation.target.name),
                    relation.target.name.to_lowercase()
                )
            });
            operation.description = Some(
                format!("{} {note}", operation.description.unwrap_or_default())
                    .trim_end()
                    .to_string(),
            );
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .insert(0, parent.clone().into());
            operation
                .responses
                .responses
                .insert("404".into(), missing.clone().into());
            Some(operation)
        };
        let mut item = PathItem::default();
        item.get = nested_operation(
            &list_item.get,
            "list",
            &format!("Only the rows whose `{}` is `parent`.", relation.name),
        );
        item.post = nested_operation(
            &list_item.post,
            "create",
            &format!(
                "`{}` is set to `parent`, whatever valid key the body gives.",
                relation.name
            ),
        );
        item.options = nested_operation(&list_item.options, "options", "");
        if item.get.is_some() || item.post.is_some() {
            doc.paths.paths.insert(pattern, item);
        }
    }
}

/// A `DELETE` that rows of other resources protect can answer 409.
pub fn document_protection(doc: &mut ResourceDoc, sources: &[&str]) {
    let description = format!(
        "Rows refer to this row through a protected relation (of {}); nothing was deleted. \
         `detail` says how many: `Cannot delete: 3 items refer to this category.`",
        sources.join(", ")
    );
    for item in doc.paths.paths.values_mut() {
        if let Some(delete) = item.delete.as_mut() {
            delete
                .responses
                .responses
                .insert("409".into(), error(&description).build().into());
        }
    }
}

/// Every operation of a writable resource.
pub fn writable<R: Writable>(info: &ResourceInfo) -> ResourceDoc {
    let mut doc = read_operations::<R>(info);
    let names = names::<R>();
    let query = &info.query;
    let read = reference(R::NAME);
    let create_name = format!("{}Create", R::NAME);
    let patch_name = format!("{}Patch", R::NAME);
    let body = |name: &str| {
        RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content("application/json", json_content(reference(name)))
            .build()
    };
    let if_match = || {
        if_match_parameter(
            "Write only if the row's current `ETag` is one of these (`*`: any existing row; the tag of an \
             `expand`ed read, `\"7.h<hash>\"`, counts as its version `\"7\"`); otherwise (a stale or malformed \
             tag) 412 and nothing changes. An empty value lists no tag: 412.",
        )
    };
    let if_none_match = || {
        parameter(
            "If-None-Match",
            ParameterIn::Header,
            json!({"type": "string"}),
            "Write only if the row's current `ETag` is none of these; `*` matches any existing row. Otherwise 412 \
             and nothing changes.",
        )
    };
    let unique: Vec<String> = info
        .fields
        .writable()
        .filter(|f| f.unique.is_some())
        .map(|f| format!("`{}`", f.name))
        .collect();
    let mut invalid = String::from(
        "Invalid body: errors keyed by field (`{\"name\": [\"...\"]}`), or `detail` for malformed JSON.",
    );
    if !unique.is_empty() {
        invalid.push_str(&format!(
            " A value of a unique field ({}) that another row already has is an error on that field.",
            unique.join(", ")
        ));
    }
    let body_errors = |operation: OperationBuilder, invalid: &str| {
        operation
            .response("400", response(invalid, Some(any_error())))
            .response(
                "408",
                error("The body did not arrive within `server.request_timeout_ms`."),
            )
            .response(
                "413",
                error("The body is larger than the configured limit."),
            )
            .response(
                "415",
                error("The body is not `application/json`, or it comes with a `Content-Encoding`."),
            )
    };

    let create = body_errors(
        OperationBuilder::new()
            .tag(names.tag.clone())
            .operation_id(Some(format!("{}_create", names.path)))
            .summary(Some(format!("Create {}", names.one)))
            .description(Some(
                "Read-only fields in the body are ignored; unknown fields are a 400. With an `Idempotency-Key`, a \
                 retry with the same key and body returns the first response (with `Idempotent-Replayed: true`) and \
                 creates nothing.",
            ))
            .parameter(parameter(
                "Idempotency-Key",
                ParameterIn::Header,
                json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}),
                "Makes retries safe: the first response for this key (per caller) is kept (`idempotency.ttl_secs`, a day by default) and replayed.",
            ))
            .request_body(Some(body(&create_name)))
            .response("409", error("The first request with this `Idempotency-Key` is still being processed; `Retry-After` says when to retry.").header("Retry-After", header("Seconds to wait.")))
            .response("422", error("This `Idempotency-Key` was used with a different request body."))
            .response(
                "201",
                with_etag(response("Created.", Some(read.clone())))
                    .header("Location", header("Absolute URL of the new row."))
                    .header(
                        "Idempotent-Replayed",
                        header(
                            "`true` on the stored response of an earlier request with the same \
                             `Idempotency-Key` (absent otherwise).",
                        ),
                    ),
            ),
        &format!("{invalid} A malformed `Idempotency-Key` is an error on `detail`."),
    )
    .build();

    let update = |id: &str, summary: String, description: &str, payload: &str| {
        body_errors(
            OperationBuilder::new()
                .tag(names.tag.clone())
                .operation_id(Some(format!("{}_{id}", names.path)))
                .summary(Some(summary))
                .description(Some(description.to_string()))
                .parameter(key_parameter::<R>(query))
                .parameter(if_match())
                .parameter(if_none_match())
                .request_body(Some(body(payload)))
                .response(
                    "200",
                    with_etag(response("The row as written.", Some(read.clone()))),
                )
                .response(
                    "404",
                    error("No such row, or the path id is not a valid id."),
                )
                .response(
                    "412",
                    error("`If-Match` does not match the row's current `ETag`, or an `If-None-Match` sent does (`*`: any row); nothing changed."),
                ),
            &invalid,
        )
        .build()
    };
    let put = update(
        "update",
        format!("Replace {}", names.one),
        "Every writable field is required, except those with a default, which an omitted field gets.",
        &create_name,
    );
    let patch = update(
        "partial_update",
        format!("Update {} partially", names.one),
        "Only the fields sent change; `null` is a value only where the field's type allows it.",
        &patch_name,
    );

    let destroy = OperationBuilder::new()
        .tag(names.tag.clone())
        .operation_id(Some(format!("{}_destroy", names.path)))
        .summary(Some(format!("Delete {}", names.one)))
        .parameter(key_parameter::<R>(query))
        .parameter(if_match())
        .parameter(if_none_match())
        .response("204", response("Deleted.", None))
        .response(
            "404",
            error("No such row, or the path id is not a valid id."),
        )
        .response(
            "412",
            error("`If-Match` does not match the row's current `ETag`, or an `If-None-Match` sent does (`*`: any row); nothing changed."),
        )
        .build();

    let actions = info.actions;
    if let Some(item) = doc.paths.paths.get_mut(&names.list_path) {
        item.post = actions.has(Actions::CREATE).then_some(create);
    }
    if let Some(item) = doc.paths.paths.get_mut(&names.detail_path) {
        if actions.has(Actions::UPDATE) {
            item.put = Some(put);
            item.patch = Some(patch);
        }
        item.delete = actions.has(Actions::DESTROY).then_some(destroy);
    }
    if actions.has(Actions::CREATE) || actions.has(Actions::UPDATE) {
        doc.schemas
            .push((create_name, fields_schema(&info.fields, Shape::Create)));
    }
    if actions.has(Actions::UPDATE) {
        doc.schemas
            .push((patch_name, fields_schema(&info.fields, Shape::Patch)));
    }
    doc.retain(actions, &names);
    nest(&mut doc, info, &names);
    doc
}
