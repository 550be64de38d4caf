//! The bodies of `PUT` and `PATCH /tickets/{id}`, checked the way the Django
//! REST framework's serializers check them, so a client meets the 400s it
//! would meet upstream: every error of a body at once, keyed by field, and
//! nested like the field. A valid body becomes an [`Edit`], applied to the
//! stored ticket in place so that the ticket keeps its key order.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::store::References;
use super::ReferenceKind;

const READ_ONLY: &str = "This field cannot be changed.";
const REQUIRED: &str = "This field is required.";
const NOT_NULL: &str = "This field may not be null.";
const BLANK: &str = "This field may not be blank.";
const INVALID_EMAIL: &str = "Enter a valid email address.";

/// Which kind of write a body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `PATCH`: any subset of the fields; `customer` and `custom_fields`
    /// merge into what is stored.
    Partial,
    /// `PUT`: every field but `custom_fields` is required, and so is every
    /// field of `customer`, which replaces the stored customer;
    /// `custom_fields` still merges, key by key.
    Full,
}

/// What a valid value does to its field.
enum Update {
    Set(Value),
    /// Writes these entries into the field's object; the other entries stay.
    Merge(Map<String, Value>),
}

/// A checked body, ready to apply.
pub(super) struct Edit {
    updates: Vec<(&'static str, Update)>,
}

impl Edit {
    /// Writes the edit into `ticket`: a field or entry that exists keeps its
    /// place, a new one is appended.
    pub(super) fn apply(self, ticket: &mut Map<String, Value>) {
        for (field, update) in self.updates {
            match update {
                Update::Set(value) => {
                    ticket.insert(field.to_owned(), value);
                }
                Update::Merge(entries) => match ticket.get_mut(field) {
                    Some(Value::Object(stored)) => stored.extend(entries),
                    // Nothing to merge into: a null or malformed value is replaced.
                    _ => {
                        ticket.insert(field.to_owned(), Value::Object(entries));
                    }
                },
            }
        }
    }
}

type Check = fn(&Value, Mode, &References) -> Result<Update, Value>;

/// A field a body may carry.
struct Editable {
    name: &'static str,
    /// Whether `PUT` needs it.
    required: bool,
    check: Check,
}

/// The editable fields, in the order `PUT` reports missing ones.
const EDITABLE: [Editable; 8] = [
    Editable {
        name: "state",
        required: true,
        check: |value, _, references| reference(value, ReferenceKind::States, references, false),
    },
    Editable {
        name: "type",
        required: true,
        check: |value, _, references| reference(value, ReferenceKind::Types, references, false),
    },
    // A ticket may have no agent assigned, so `owner` takes null.
    Editable {
        name: "owner",
        required: true,
        check: |value, _, references| reference(value, ReferenceKind::Users, references, true),
    },
    Editable {
        name: "customer",
        required: true,
        check: |value, mode, _| customer(value, mode),
    },
    Editable {
        name: "language",
        required: true,
        check: |value, _, _| code(value, 2, char::is_ascii_lowercase, "language"),
    },
    Editable {
        name: "currency",
        required: true,
        check: |value, _, _| code(value, 3, char::is_ascii_uppercase, "currency"),
    },
    Editable {
        name: "country",
        required: true,
        check: |value, _, _| code(value, 2, char::is_ascii_uppercase, "country"),
    },
    Editable {
        name: "custom_fields",
        required: false,
        check: |value, _, _| custom_fields(value),
    },
];

const CUSTOMER_FIELDS: [&str; 3] = ["name", "email", "phone"];

/// Checks a whole body; the error is the 400's body.
pub(super) fn check(body: &Value, mode: Mode, references: &References) -> Result<Edit, Value> {
    let Value::Object(fields) = body else {
        return Err(json!({ "non_field_errors": [not_a_dictionary(body)] }));
    };
    let mut errors = Map::new();
    let mut updates = Vec::new();
    for (name, value) in fields {
        // The real serializer would ignore unknown fields; failing on them
        // catches a client that believes it changed something it did not.
        let Some(field) = EDITABLE.iter().find(|field| field.name == name) else {
            errors.insert(name.clone(), json!([READ_ONLY]));
            continue;
        };
        match (field.check)(value, mode, references) {
            Ok(update) => updates.push((field.name, update)),
            Err(error) => {
                errors.insert(name.clone(), error);
            }
        }
    }
    if mode == Mode::Full {
        for field in EDITABLE.iter().filter(|field| field.required) {
            if !fields.contains_key(field.name) {
                errors.insert(field.name.to_owned(), json!([REQUIRED]));
            }
        }
    }
    if errors.is_empty() {
        Ok(Edit { updates })
    } else {
        Err(Value::Object(errors))
    }
}

/// The name Python gives the type a JSON value parses to, as the Django
/// REST framework's messages quote it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn not_a_dictionary(value: &Value) -> String {
    format!(
        "Invalid data. Expected a dictionary, but got {}.",
        type_name(value)
    )
}

/// A string as the framework's `CharField` takes it: trimmed.
fn string(value: &Value) -> Result<String, Value> {
    match value {
        Value::String(text) => Ok(text.trim().to_owned()),
        Value::Null => Err(json!([NOT_NULL])),
        _ => Err(json!(["Not a valid string."])),
    }
}

/// A string that may also be null or blank.
fn nullable_string(value: &Value) -> Result<Value, Value> {
    match value {
        Value::Null => Ok(Value::Null),
        _ => string(value).map(Value::String),
    }
}

/// A UUID that must name a record of `kind`; stored in canonical form.
fn reference(
    value: &Value,
    kind: ReferenceKind,
    references: &References,
    nullable: bool,
) -> Result<Update, Value> {
    let text = match value {
        Value::String(text) => text,
        Value::Null if nullable => return Ok(Update::Set(Value::Null)),
        Value::Null => return Err(json!([NOT_NULL])),
        other => {
            let message = format!(
                "Incorrect type. Expected pk value, received {}.",
                type_name(other)
            );
            return Err(json!([message]));
        }
    };
    // Django's own message for a malformed UUID, curly quotes included.
    let Ok(id) = Uuid::parse_str(text) else {
        return Err(json!([format!("“{text}” is not a valid UUID.")]));
    };
    if !references.resolves(kind, id) {
        return Err(json!([format!(
            "Invalid pk \"{text}\" - object does not exist."
        )]));
    }
    Ok(Update::Set(Value::String(id.to_string())))
}

/// A code of `len` characters that each pass `letter`, e.g. `cs`, `CZK`, `CZ`.
fn code(value: &Value, len: usize, letter: fn(&char) -> bool, what: &str) -> Result<Update, Value> {
    let text = string(value)?;
    if text.is_empty() {
        return Err(json!([BLANK]));
    }
    if text.chars().count() == len && text.chars().all(|c| letter(&c)) {
        Ok(Update::Set(Value::String(text)))
    } else {
        Err(json!([format!("Enter a valid {what} code.")]))
    }
}

/// The customer: a nested object whose errors nest the same way. Any of its
/// fields may be blank or null, as stored tickets show.
fn customer(value: &Value, mode: Mode) -> Result<Update, Value> {
    let fields = match value {
        Value::Object(fields) => fields,
        Value::Null => return Err(json!([NOT_NULL])),
        other => return Err(json!({ "non_field_errors": [not_a_dictionary(other)] })),
    };
    let mut errors = Map::new();
    let mut customer = Map::new();
    for (name, value) in fields {
        if !CUSTOMER_FIELDS.contains(&name.as_str()) {
            errors.insert(name.clone(), json!([READ_ONLY]));
            continue;
        }
        match nullable_string(value) {
            Ok(Value::String(email))
                if name == "email" && !email.is_empty() && !is_email(&email) =>
            {
                errors.insert(name.clone(), json!([INVALID_EMAIL]));
            }
            Ok(value) => {
                customer.insert(name.clone(), value);
            }
            Err(error) => {
                errors.insert(name.clone(), error);
            }
        }
    }
    let update = match mode {
        Mode::Partial => Update::Merge(customer),
        Mode::Full => {
            for name in CUSTOMER_FIELDS {
                if !fields.contains_key(name) {
                    errors.insert(name.to_owned(), json!([REQUIRED]));
                }
            }
            // The documented key order, whatever the body's.
            let replacement = CUSTOMER_FIELDS
                .into_iter()
                .filter_map(|name| customer.remove_entry(name))
                .collect();
            Update::Set(Value::Object(replacement))
        }
    };
    if errors.is_empty() {
        Ok(update)
    } else {
        Err(Value::Object(errors))
    }
}

/// Custom field values, keyed by field name or UUID: strings (option UUIDs
/// among them) or null. Keys are not checked against `/custom-fields`,
/// since a ticket may carry name-keyed fields such as `resolve_by`.
fn custom_fields(value: &Value) -> Result<Update, Value> {
    let entries = match value {
        Value::Object(entries) => entries,
        Value::Null => return Err(json!([NOT_NULL])),
        other => {
            let message = format!(
                "Expected a dictionary of items but got type \"{}\".",
                type_name(other)
            );
            return Err(json!([message]));
        }
    };
    let mut errors = Map::new();
    let mut merged = Map::new();
    for (key, value) in entries {
        match nullable_string(value) {
            Ok(value) => {
                merged.insert(key.clone(), value);
            }
            Err(error) => {
                errors.insert(key.clone(), error);
            }
        }
    }
    if errors.is_empty() {
        Ok(Update::Merge(merged))
    } else {
        Err(Value::Object(errors))
    }
}

/// Django's `EmailValidator`, minus quoted local parts and IP-literal
/// domains: a dot-atom local part, and a domain of valid labels whose last
/// is a top-level domain of letters, or `localhost`.
pub(super) fn is_email(text: &str) -> bool {
    let Some((user, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let atom_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let user_ok = user
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atom_char));
    let label_ok = |label: &str| {
        (1..=63).contains(&label.chars().count())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    // A fully qualified domain may end in a dot.
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let domain_ok = match domain.rsplit_once('.') {
        Some((_, tld)) => {
            domain.split('.').all(label_ok)
                && tld.chars().count() >= 2
                && (tld.chars().all(|c| c.is_alphabetic() || c == '-') || tld.starts_with("xn--"))
        }
        None => domain == "localhost",
    };
    text.len() <= 320 && user_ok && domain_ok
}
