//! Deterministic generation of realistic tickets: claims and returns of a
//! Czech and Slovak e-shop, in the exact shape of the documented ticket object
//! plus `portal_url`, a field the documentation does not show; and of the
//! account's reference records (states, types, tags, users, custom fields,
//! refund accounts) that the tickets' UUIDs point to, so a client can resolve
//! every one of them to a name.
//!
//! The data is built to stress a mirror the way real accounts do: customers
//! repeat across tickets with their e-mail written in varying case and
//! spacing, some have only a phone or no contact at all, money is decimal
//! strings or null, timestamps carry Prague's changing UTC offset, and
//! `custom_fields` mix a name key with UUID keys whose values are option
//! UUIDs, free text or dates.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use uuid::Builder;

use super::{ReferenceKind, Simulator};

/// Generates the reference records of an account and `count` tickets that
/// point into them, from `seed`; the same arguments always give the same
/// data. Tickets come one at a time so that only their stored form, not all
/// their trees at once, has to fit in memory.
pub(super) fn account(
    seed: u64,
    count: usize,
) -> (Vec<(ReferenceKind, Value)>, impl Iterator<Item = Value>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (pools, references) = Pools::new(&mut rng, count);
    let mut created: Vec<DateTime<Utc>> = (0..count).map(|_| random_created(&mut rng)).collect();
    // Codes count up per year in creation order, as the real numbering does.
    created.sort();
    let mut year = 0;
    let mut number = 0;
    let tickets = created.into_iter().map(move |created| {
        let local_year = local(created).year();
        if local_year != year {
            year = local_year;
            number = 0;
        }
        number += 1;
        ticket(&mut rng, &pools, created, &format!("{year}{number:06}"))
    });
    (references, tickets)
}

fn uuid(rng: &mut StdRng) -> String {
    Builder::from_random_bytes(rng.gen())
        .into_uuid()
        .to_string()
}

/// Picks an index with the given relative weights.
fn weighted(rng: &mut StdRng, weights: &[u32]) -> usize {
    let mut roll = rng.gen_range(0..weights.iter().sum::<u32>());
    weights
        .iter()
        .position(|&weight| {
            if roll < weight {
                true
            } else {
                roll -= weight;
                false
            }
        })
        .unwrap_or(0)
}

fn pick<'a>(rng: &mut StdRng, items: &'a [&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Country {
    Cz,
    Sk,
}

struct Customer {
    name: String,
    /// Canonical lower-case address; tickets may write it differently.
    email: Option<String>,
    /// Canonical `+420 777 123 456` form; tickets may drop some spaces.
    phone: Option<String>,
    country: Country,
}

/// The ids of the reference records shared by all tickets of one generated
/// account.
struct Pools {
    open_states: Vec<String>,
    closed_states: Vec<String>,
    /// In the order of [`TYPES`].
    types: Vec<String>,
    owners: Vec<String>,
    tags: Vec<String>,
    refund_method: FieldIds,
    claim_reason: FieldIds,
    parcel_received: FieldIds,
    product_fields: Vec<FieldIds>,
    customers: Vec<Customer>,
}

/// A custom field's id and, for a select field, its options' ids.
struct FieldIds {
    id: String,
    options: Vec<String>,
}

/// A language -> text name, as every translatable reference name is written.
fn named((cs, en): (&str, &str)) -> Value {
    json!({ "cs": cs, "en": en })
}

/// Ticket states as (Czech, English) names, in the order of a claim's flow,
/// and whether a ticket in that state is closed.
const STATES: &[((&str, &str), bool)] = &[
    (("Nový", "New"), false),
    (("Čeká na zákazníka", "Waiting for customer"), false),
    (("Zpracovává se", "In progress"), false),
    (("Schváleno", "Approved"), false),
    (("Zamítnuto", "Rejected"), true),
    (("Vyřízeno", "Resolved"), true),
];

/// Ticket types, most common first: tickets pick them 60:30:10.
const TYPES: &[(&str, &str)] = &[
    ("Reklamace", "Complaint"),
    ("Vrácení", "Return"),
    ("Záruční oprava", "Warranty repair"),
];

/// Tags as names, text colour and background colour.
const TAGS: &[((&str, &str), &str, &str)] = &[
    (("Urgentní", "Urgent"), "#ffffff", "#d32f2f"),
    (("VIP zákazník", "VIP customer"), "#ffffff", "#7b1fa2"),
    (
        ("Poškozeno přepravou", "Damaged in transit"),
        "#ffffff",
        "#e64a19",
    ),
    (
        ("Opakovaná reklamace", "Repeated claim"),
        "#ffffff",
        "#c2185b",
    ),
    (("Výměna za nové", "Replacement"), "#ffffff", "#1976d2"),
    (
        ("Čeká na náhradní díl", "Waiting for a spare part"),
        "#000000",
        "#ffc107",
    ),
    (
        ("Odesláno do servisu", "Sent to service centre"),
        "#ffffff",
        "#388e3c",
    ),
    (("Dobropis", "Credit note"), "#000000", "#b2dfdb"),
];

/// The e-shop's staff who own tickets, as full name and role.
const USERS: &[(&str, &str)] = &[
    ("Kateřina Málková", "admin"),
    ("Tomáš Řezníček", "agent"),
    ("Lucie Šimková", "agent"),
    ("Ondřej Žák", "agent"),
    ("Barbora Vávrová", "agent"),
];
const STAFF_DOMAIN: &str = "mujobchod.cz";

/// A custom field as configured in the account's settings.
struct FieldDef {
    name: (&'static str, &'static str),
    /// "select", "text" or "date".
    kind: &'static str,
    /// Option labels; empty unless `kind` is "select".
    options: &'static [(&'static str, &'static str)],
}

const REFUND_METHOD: FieldDef = FieldDef {
    name: ("Způsob vrácení peněz", "Refund method"),
    kind: "select",
    options: &[
        ("Převodem", "Bank transfer"),
        ("Dobírkou", "Cash on delivery"),
        ("Poukázkou", "Voucher"),
    ],
};
const CLAIM_REASON: FieldDef = FieldDef {
    name: ("Důvod reklamace", "Reason for the claim"),
    kind: "text",
    options: &[],
};
const PARCEL_RECEIVED: FieldDef = FieldDef {
    name: ("Datum převzetí zásilky", "Parcel received on"),
    kind: "date",
    options: &[],
};
const PRODUCT_FIELDS: &[FieldDef] = &[
    FieldDef {
        name: ("Stav zboží", "Condition of goods"),
        kind: "select",
        options: &[
            ("Nové", "New"),
            ("Použité", "Used"),
            ("Poškozené", "Damaged"),
        ],
    },
    FieldDef {
        name: ("Kompletnost balení", "Package completeness"),
        kind: "select",
        options: &[
            ("Kompletní", "Complete"),
            ("Chybí příslušenství", "Accessories missing"),
            ("Bez původního obalu", "Without original packaging"),
        ],
    },
];

/// Accounts refunds are paid from, as name, Czech bank code, currency and
/// the days a refund is due in.
const REFUND_ACCOUNTS: &[(&str, &str, &str, u32)] = &[
    ("Hlavní účet CZK", "0800", "CZK", 14),
    ("Fio účet pro vratky", "2010", "CZK", 30),
    ("Eurový účet", "0300", "EUR", 14),
];

impl Pools {
    /// Draws the account's reference records and customers; returns the
    /// records the reference endpoints serve next to the ids tickets use.
    fn new(rng: &mut StdRng, count: usize) -> (Self, Vec<(ReferenceKind, Value)>) {
        let mut references = Vec::new();
        let mut open_states = Vec::new();
        let mut closed_states = Vec::new();
        for &(name, closed) in STATES {
            let id = uuid(rng);
            references.push((
                ReferenceKind::States,
                json!({ "id": id, "name": named(name) }),
            ));
            if closed {
                closed_states.push(id);
            } else {
                open_states.push(id);
            }
        }
        let types = TYPES
            .iter()
            .map(|&name| {
                let id = uuid(rng);
                references.push((
                    ReferenceKind::Types,
                    json!({ "id": id, "name": named(name) }),
                ));
                id
            })
            .collect();
        let tags = TAGS
            .iter()
            .map(|&(name, fgcolor, bgcolor)| {
                let id = uuid(rng);
                references.push((
                    ReferenceKind::Tags,
                    json!({ "id": id, "name": named(name), "fgcolor": fgcolor, "bgcolor": bgcolor }),
                ));
                id
            })
            .collect();
        let owners = USERS
            .iter()
            .map(|&(full_name, role)| {
                let id = uuid(rng);
                references.push((ReferenceKind::Users, user(rng, &id, full_name, role)));
                id
            })
            .collect();

        let mut ticket_fields = Vec::new();
        let refund_method = custom_field(rng, &REFUND_METHOD, &mut ticket_fields);
        let claim_reason = custom_field(rng, &CLAIM_REASON, &mut ticket_fields);
        let parcel_received = custom_field(rng, &PARCEL_RECEIVED, &mut ticket_fields);
        let mut product_field_records = Vec::new();
        let product_fields = PRODUCT_FIELDS
            .iter()
            .map(|field| custom_field(rng, field, &mut product_field_records))
            .collect();
        references.extend(
            ticket_fields
                .into_iter()
                .map(|field| (ReferenceKind::CustomFields, field)),
        );
        references.extend(
            product_field_records
                .into_iter()
                .map(|field| (ReferenceKind::ProductCustomFields, field)),
        );
        for &(name, bank_code, currency, due_date) in REFUND_ACCOUNTS {
            references.push((
                ReferenceKind::RefundAccounts,
                json!({
                    "id": uuid(rng),
                    "name": name,
                    "bank_account": format!("{}/{bank_code}", account_number(rng)),
                    "currency": currency,
                    "due_date": due_date,
                }),
            ));
        }

        let mut emails = HashSet::new();
        let customers = (0..(count / 3).max(1))
            .map(|_| customer(rng, &mut emails))
            .collect();
        let pools = Self {
            open_states,
            closed_states,
            types,
            owners,
            tags,
            refund_method,
            claim_reason,
            parcel_received,
            product_fields,
            customers,
        };
        (pools, references)
    }
}

/// A staff member's user record: a company address without diacritics, and
/// timestamps from before the first generated ticket (joined) and near the
/// last one (activity), so they never depend on when the simulator runs.
fn user(rng: &mut StdRng, id: &str, full_name: &str, role: &str) -> Value {
    let local_part = ascii(&full_name.to_lowercase()).replace(' ', ".");
    let phone_number = format!(
        "+420 {} {:03} {:03}",
        rng.gen_range(601..800),
        rng.gen_range(0..1000),
        rng.gen_range(0..1000)
    );
    let date_joined = random_between(
        rng,
        "2023-01-02T08:00:00+01:00",
        "2023-12-20T17:00:00+01:00",
    );
    let last_activity_at = random_between(
        rng,
        "2026-05-01T08:00:00+02:00",
        "2026-06-01T00:00:00+02:00",
    );
    json!({
        "id": id,
        "role": role,
        "email": format!("{local_part}@{STAFF_DOMAIN}"),
        "full_name": full_name,
        "phone_number": phone_number,
        "last_activity_at": Simulator::format_ts(local(last_activity_at)),
        "date_joined": Simulator::format_ts(local(date_joined)),
    })
}

/// Draws ids for a custom field and its options, appends its record to
/// `records` at the next position, and returns the ids.
fn custom_field(rng: &mut StdRng, field: &FieldDef, records: &mut Vec<Value>) -> FieldIds {
    let id = uuid(rng);
    let options: Vec<String> = field.options.iter().map(|_| uuid(rng)).collect();
    let option_records: Vec<Value> = options
        .iter()
        .zip(field.options)
        .map(|(id, &label)| json!({ "id": id, "label": named(label) }))
        .collect();
    records.push(json!({
        "id": id,
        "type": field.kind,
        "position": records.len() + 1,
        "name": named(field.name),
        "options": option_records,
    }));
    FieldIds { id, options }
}

/// A Czech account number (the part before the bank code) that passes the
/// banks' modulo-11 check, as a real one does.
fn account_number(rng: &mut StdRng) -> u64 {
    const WEIGHTS: [u64; 10] = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6];
    loop {
        let number = rng.gen_range(100_000_000..10_000_000_000_u64);
        let mut digits = number;
        let weighted_sum: u64 = WEIGHTS
            .iter()
            .map(|weight| {
                let digit = digits % 10;
                digits /= 10;
                digit * weight
            })
            .sum();
        if weighted_sum % 11 == 0 {
            return number;
        }
    }
}

const MALE_FIRST: &[&str] = &[
    "Jiří",
    "Jan",
    "Petr",
    "Josef",
    "Pavel",
    "Martin",
    "Tomáš",
    "Jaroslav",
    "Miroslav",
    "Zdeněk",
    "Václav",
    "Michal",
    "František",
    "Vladimír",
    "Lukáš",
    "Ondřej",
    "Radek",
    "Štěpán",
];
const FEMALE_FIRST: &[&str] = &[
    "Jana",
    "Marie",
    "Eva",
    "Hana",
    "Anna",
    "Lenka",
    "Kateřina",
    "Lucie",
    "Věra",
    "Alena",
    "Petra",
    "Veronika",
    "Šárka",
    "Zuzana",
    "Markéta",
    "Tereza",
];
const SK_MALE_FIRST: &[&str] = &["Jozef", "Ľubomír", "Peter", "Marek", "Ján", "Dušan"];
const SK_FEMALE_FIRST: &[&str] = &["Mária", "Zuzana", "Katarína", "Ľubica", "Jana", "Monika"];
/// Surnames as (male, female) forms.
const SURNAMES: &[(&str, &str)] = &[
    ("Novák", "Nováková"),
    ("Svoboda", "Svobodová"),
    ("Novotný", "Novotná"),
    ("Dvořák", "Dvořáková"),
    ("Černý", "Černá"),
    ("Procházka", "Procházková"),
    ("Kučera", "Kučerová"),
    ("Veselý", "Veselá"),
    ("Horák", "Horáková"),
    ("Němec", "Němcová"),
    ("Pokorný", "Pokorná"),
    ("Pospíšil", "Pospíšilová"),
    ("Hájek", "Hájková"),
    ("Jelínek", "Jelínková"),
    ("Král", "Králová"),
    ("Růžička", "Růžičková"),
    ("Beneš", "Benešová"),
    ("Fiala", "Fialová"),
    ("Sedláček", "Sedláčková"),
    ("Remek", "Remková"),
    ("Šťastný", "Šťastná"),
    ("Doležal", "Doležalová"),
    ("Kolář", "Kolářová"),
    ("Čermák", "Čermáková"),
    ("Ševčík", "Ševčíková"),
    ("Kříž", "Křížová"),
];
const SK_SURNAMES: &[(&str, &str)] = &[
    ("Kováč", "Kováčová"),
    ("Horváth", "Horváthová"),
    ("Tóth", "Tóthová"),
    ("Baláž", "Balážová"),
    ("Szabó", "Szabóová"),
];
const CZ_DOMAINS: &[&str] = &[
    "seznam.cz",
    "email.cz",
    "gmail.com",
    "centrum.cz",
    "post.cz",
    "atlas.cz",
    "volny.cz",
];
const SK_DOMAINS: &[&str] = &["azet.sk", "gmail.com", "centrum.sk", "zoznam.sk"];

/// Strips Czech and Slovak diacritics, as people do in e-mail addresses.
fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'á' | 'ä' => 'a',
            'č' => 'c',
            'ď' => 'd',
            'é' | 'ě' => 'e',
            'í' => 'i',
            'ľ' | 'ĺ' => 'l',
            'ň' => 'n',
            'ó' | 'ô' => 'o',
            'ř' | 'ŕ' => 'r',
            'š' => 's',
            'ť' => 't',
            'ú' | 'ů' => 'u',
            'ý' => 'y',
            'ž' => 'z',
            other => other,
        })
        .collect()
}

fn customer(rng: &mut StdRng, emails: &mut HashSet<String>) -> Customer {
    let country = if rng.gen_bool(0.8) {
        Country::Cz
    } else {
        Country::Sk
    };
    let female = rng.gen_bool(0.5);
    let (first_names, surnames, domains) = match (country, female) {
        (Country::Cz, false) => (MALE_FIRST, SURNAMES, CZ_DOMAINS),
        (Country::Cz, true) => (FEMALE_FIRST, SURNAMES, CZ_DOMAINS),
        (Country::Sk, false) => (SK_MALE_FIRST, SK_SURNAMES, SK_DOMAINS),
        (Country::Sk, true) => (SK_FEMALE_FIRST, SK_SURNAMES, SK_DOMAINS),
    };
    let first = pick(rng, first_names);
    let &(male_surname, female_surname) = surnames.choose(rng).unwrap_or(&("Novák", "Nováková"));
    let surname = if female { female_surname } else { male_surname };
    let name = format!("{first} {surname}");

    let (first_ascii, surname_ascii) =
        (ascii(&first.to_lowercase()), ascii(&surname.to_lowercase()));
    let local = match rng.gen_range(0..3) {
        0 => format!("{first_ascii}.{surname_ascii}"),
        1 => format!("{surname_ascii}.{first_ascii}"),
        _ => format!(
            "{}{surname_ascii}",
            first_ascii.chars().next().unwrap_or('x')
        ),
    };
    let domain = pick(rng, domains);
    let mut email = format!("{local}@{domain}");
    while !emails.insert(email.clone()) {
        email = format!("{local}{}@{domain}", rng.gen_range(1..100));
    }
    let prefix = match country {
        Country::Cz => format!("+420 {}", rng.gen_range(601..800)),
        Country::Sk => format!("+421 9{:02}", rng.gen_range(0..100)),
    };
    let phone = format!(
        "{prefix} {:03} {:03}",
        rng.gen_range(0..1000),
        rng.gen_range(0..1000)
    );
    let (email, phone) = match weighted(rng, &[65, 17, 14, 4]) {
        0 => (Some(email), Some(phone)),
        1 => (Some(email), None),
        2 => (None, Some(phone)),
        _ => (None, None),
    };
    Customer {
        name,
        email,
        phone,
        country,
    }
}

/// The e-mail as one ticket happens to carry it: same address, but case and
/// surrounding spaces vary the way customers type them.
fn written_email(rng: &mut StdRng, email: &str) -> String {
    match weighted(rng, &[70, 12, 4, 14]) {
        0 => email.to_owned(),
        1 => capitalized(email),
        2 => email.to_uppercase(),
        _ => format!("  {} ", capitalized(email)),
    }
}

/// `jiri.dvorak@seznam.cz` -> `Jiri.Dvorak@Seznam.cz`.
fn capitalized(email: &str) -> String {
    let mut upper_next = true;
    email
        .chars()
        .map(|c| {
            let out = if upper_next {
                c.to_ascii_uppercase()
            } else {
                c
            };
            upper_next = matches!(c, '.' | '@');
            out
        })
        .collect()
}

/// The phone as one ticket carries it: the same digits, spaces vary.
fn written_phone(rng: &mut StdRng, phone: &str) -> String {
    match weighted(rng, &[60, 25, 15]) {
        0 => phone.to_owned(),
        1 => phone.replace(' ', ""),
        _ => phone.replacen(' ', "", 3),
    }
}

/// A missing contact is written either way the API has been seen to write it.
fn absent(rng: &mut StdRng) -> Value {
    if rng.gen_bool(0.5) {
        Value::Null
    } else {
        json!("")
    }
}

struct CatalogItem {
    name: &'static str,
    manufacturer: &'static str,
    category: &'static str,
    sku: &'static str,
    /// Retail price in whole crowns, VAT included.
    price_czk: u64,
    variants: &'static [&'static str],
}

const COLOURS: &[&str] = &["černá", "bílá", "stříbrná", "modrá"];
const SIZES: &[&str] = &["S", "M", "L", "XL"];
const SHOE_SIZES: &[&str] = &["38", "40", "42", "43", "44"];
const NO_VARIANT: &[&str] = &[""];

const CATALOG: &[CatalogItem] = &[
    CatalogItem {
        name: "Pračka Bosch Serie 6",
        manufacturer: "Bosch",
        category: "Pračky",
        sku: "WAN28263BY",
        price_czk: 12990,
        variants: NO_VARIANT,
    },
    CatalogItem {
        name: "Mobilní telefon Samsung Galaxy A55",
        manufacturer: "Samsung",
        category: "Mobilní telefony",
        sku: "SM-A556BZKAEUE",
        price_czk: 9490,
        variants: COLOURS,
    },
    CatalogItem {
        name: "Bezdrátová sluchátka Sony WH-1000XM5",
        manufacturer: "Sony",
        category: "Sluchátka",
        sku: "WH1000XM5B",
        price_czk: 8990,
        variants: COLOURS,
    },
    CatalogItem {
        name: "Rychlovarná konvice Tefal",
        manufacturer: "Tefal",
        category: "Kuchyňské spotřebiče",
        sku: "KO693810",
        price_czk: 1299,
        variants: COLOURS,
    },
    CatalogItem {
        name: "Robotický vysavač Roborock S8",
        manufacturer: "Roborock",
        category: "Vysavače",
        sku: "S8-BLK",
        price_czk: 14990,
        variants: NO_VARIANT,
    },
    CatalogItem {
        name: "Dětská autosedačka Britax Römer",
        manufacturer: "Britax Römer",
        category: "Autosedačky",
        sku: "2000038471",
        price_czk: 6490,
        variants: NO_VARIANT,
    },
    CatalogItem {
        name: "Pánská zimní bunda",
        manufacturer: "Husky",
        category: "Bundy",
        sku: "HUS-NELLY-M",
        price_czk: 3290,
        variants: SIZES,
    },
    CatalogItem {
        name: "Dámské kožené boty",
        manufacturer: "Baťa",
        category: "Obuv",
        sku: "524-6633",
        price_czk: 1499,
        variants: SHOE_SIZES,
    },
    CatalogItem {
        name: "Horské kolo Author Traction",
        manufacturer: "Author",
        category: "Jízdní kola",
        sku: "AUT-TR-29",
        price_czk: 18990,
        variants: SIZES,
    },
    CatalogItem {
        name: "Automatický kávovar Magnifica S",
        manufacturer: "De'Longhi",
        category: "Kávovary",
        sku: "ECAM22.110.B",
        price_czk: 8490,
        variants: NO_VARIANT,
    },
    CatalogItem {
        name: "Notebook Lenovo IdeaPad 5",
        manufacturer: "Lenovo",
        category: "Notebooky",
        sku: "82XD0043CK",
        price_czk: 17990,
        variants: NO_VARIANT,
    },
    CatalogItem {
        name: "Chytré hodinky Garmin Forerunner 265",
        manufacturer: "Garmin",
        category: "Chytré hodinky",
        sku: "010-02810-10",
        price_czk: 10490,
        variants: COLOURS,
    },
    CatalogItem {
        name: "Stan pro tři osoby",
        manufacturer: "Hannah",
        category: "Stany",
        sku: "10003257HHX",
        price_czk: 4990,
        variants: NO_VARIANT,
    },
    CatalogItem {
        name: "Kombinovaná lednice Gorenje",
        manufacturer: "Gorenje",
        category: "Chladničky",
        sku: "NRK6192AW4",
        price_czk: 11490,
        variants: NO_VARIANT,
    },
    CatalogItem {
        name: "Tyčový mixér Concept",
        manufacturer: "Concept",
        category: "Kuchyňské spotřebiče",
        sku: "TM4610",
        price_czk: 1790,
        variants: NO_VARIANT,
    },
    CatalogItem {
        name: "Napařovací žehlička Philips",
        manufacturer: "Philips",
        category: "Žehličky",
        sku: "DST7030/20",
        price_czk: 1590,
        variants: NO_VARIANT,
    },
    CatalogItem {
        name: "Turistický batoh Deuter Futura 32",
        manufacturer: "Deuter",
        category: "Batohy",
        sku: "3400821",
        price_czk: 3690,
        variants: COLOURS,
    },
    CatalogItem {
        name: "Hrnec s poklicí 24 cm",
        manufacturer: "Tescoma",
        category: "Nádobí",
        sku: "780344",
        price_czk: 899,
        variants: NO_VARIANT,
    },
];

/// A Czech-prefixed EAN-13 with a correct check digit, fixed per catalog item.
fn ean(item_index: usize) -> String {
    let body = format!(
        "8594{:08}",
        (item_index as u64 * 7_919_113 + 1_234_567) % 100_000_000
    );
    let sum: u32 = body
        .chars()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, digit)| if i % 2 == 0 { digit } else { digit * 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// Hundredths of a currency unit as the API's four-decimal string.
fn money(hundredths: u64) -> String {
    format!("{}.{:02}00", hundredths / 100, hundredths % 100)
}

fn price(rng: &mut StdRng, price_czk: u64, currency: &str) -> Value {
    // One euro is roughly 25 crowns: 100 hundredths per unit / 25 = 4.
    let with_vat = if currency == "EUR" {
        price_czk * 4
    } else {
        price_czk * 100
    };
    let without_vat = (with_vat * 100 + 60) / 121;
    match weighted(rng, &[75, 12, 13]) {
        0 => json!({
            "with_vat": money(with_vat),
            "without_vat": money(without_vat),
            "vat": money(with_vat - without_vat),
        }),
        1 => json!({ "with_vat": money(with_vat), "without_vat": null, "vat": null }),
        _ => json!({ "with_vat": null, "without_vat": null, "vat": null }),
    }
}

const FILE_NAMES: &[&str] = &[
    "foto_vady.jpg",
    "uctenka.pdf",
    "poskozeni_obalu.jpg",
    "video_zavady.mp4",
    "IMG_2041.HEIC",
];

fn files(rng: &mut StdRng) -> Value {
    if rng.gen_bool(0.65) {
        return json!([]);
    }
    let files: Vec<Value> = (0..rng.gen_range(1..=3))
        .map(|_| {
            let id = uuid(rng);
            let name = pick(rng, FILE_NAMES);
            json!({
                "id": id,
                "name": name,
                "url": format!("https://app.retino.com/media/tickets/{id}/{name}"),
            })
        })
        .collect();
    Value::Array(files)
}

fn serial(rng: &mut StdRng) -> Value {
    if rng.gen_bool(0.6) {
        return Value::Null;
    }
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let tail: String = (0..10)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    json!(format!("SN{tail}"))
}

fn product(rng: &mut StdRng, pools: &Pools, currency: &str) -> Value {
    let item_index = rng.gen_range(0..CATALOG.len());
    let item = &CATALOG[item_index];
    let id = uuid(rng);
    let price = price(rng, item.price_czk, currency);
    let files = files(rng);
    let variant = pick(rng, item.variants);
    let ean = if rng.gen_bool(0.85) {
        ean(item_index)
    } else {
        String::new()
    };
    let serial = serial(rng);
    let amount = if rng.gen_bool(0.85) {
        "1.0000"
    } else {
        "2.0000"
    };
    let mut custom_fields = Map::new();
    for field in &pools.product_fields {
        if rng.gen_bool(0.4) {
            select(rng, field, &mut custom_fields);
        }
    }
    json!({
        "id": id,
        "bound_order_item": null,
        "price": price,
        "files": files,
        "name": item.name,
        "manufacturer": item.manufacturer,
        "category": item.category,
        "product_id": item.sku,
        "variant": variant,
        "ean": ean,
        "serial": serial,
        "amount": amount,
        "custom_fields": custom_fields,
    })
}

/// Fills a select field in with one of its options.
fn select(rng: &mut StdRng, field: &FieldIds, custom_fields: &mut Map<String, Value>) {
    if let Some(option) = field.options.choose(rng) {
        custom_fields.insert(field.id.clone(), json!(option));
    }
}

const CARRIERS: &[&str] = &["Zásilkovna", "PPL", "DPD", "Česká pošta", "GLS"];

fn shipping(rng: &mut StdRng) -> Value {
    if rng.gen_bool(0.7) {
        return json!([]);
    }
    let carrier = pick(rng, CARRIERS);
    let tracking_number = format!("Z{:010}", rng.gen_range(0..10_000_000_000_u64));
    json!([{
        "carrier": carrier,
        "tracking_number": tracking_number,
        "direction": "to_warehouse",
    }])
}

const RATING_COMMENTS: &[&str] = &[
    "Vše proběhlo rychle, děkuji.",
    "Výměna trvala příliš dlouho.",
    "Skvělá komunikace, doporučuji!",
    "Reklamace zamítnuta bez vysvětlení.",
    "Peníze vráceny do týdne, spokojenost.",
    "Kurýr nepřijel v domluvený čas.",
];

const CLAIM_REASONS: &[&str] = &[
    "Zboží bylo poškozeno při přepravě",
    "Nefunkční po týdnu používání",
    "Nesedí velikost",
    "Neodpovídá popisu v e-shopu",
];

/// Prague's offset from UTC at `utc`: CEST between the last Sundays of March
/// and October (01:00 UTC both), CET otherwise.
fn prague_offset(utc: DateTime<Utc>) -> FixedOffset {
    let switch = |month| {
        last_sunday(utc.year(), month)
            .and_hms_opt(1, 0, 0)
            .map(|t| t.and_utc())
    };
    let summer = match (switch(3), switch(10)) {
        (Some(start), Some(end)) => (start..end).contains(&utc),
        _ => false,
    };
    let hours = if summer { 2 } else { 1 };
    FixedOffset::east_opt(hours * 3600).expect("a whole-hour offset is valid")
}

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let last_day = NaiveDate::from_ymd_opt(year, month + 1, 1)
        .and_then(|first| first.pred_opt())
        .expect("March and October have a last day");
    last_day - TimeDelta::days(i64::from(last_day.weekday().num_days_from_sunday()))
}

fn local(utc: DateTime<Utc>) -> DateTime<FixedOffset> {
    utc.with_timezone(&prague_offset(utc))
}

/// A creation time between 2024-01-01 and 2026-06-01, Prague time.
fn random_created(rng: &mut StdRng) -> DateTime<Utc> {
    random_between(
        rng,
        "2024-01-01T00:00:00+01:00",
        "2026-06-01T00:00:00+02:00",
    )
}

/// A time from `start` (inclusive) to `end` (exclusive), both RFC 3339
/// constants.
fn random_between(rng: &mut StdRng, start: &str, end: &str) -> DateTime<Utc> {
    let start = DateTime::parse_from_rfc3339(start).expect("valid start");
    let end = DateTime::parse_from_rfc3339(end).expect("valid end");
    let span = (end - start)
        .num_microseconds()
        .expect("span fits in microseconds");
    (start + TimeDelta::microseconds(rng.gen_range(0..span))).with_timezone(&Utc)
}

/// How long after creation a ticket was last changed: minutes to weeks.
fn random_age(rng: &mut StdRng) -> TimeDelta {
    const MINUTE: i64 = 60_000_000;
    let (low, high) = match weighted(rng, &[20, 30, 30, 20]) {
        0 => (5 * MINUTE, 60 * MINUTE),
        1 => (60 * MINUTE, 24 * 60 * MINUTE),
        2 => (24 * 60 * MINUTE, 7 * 24 * 60 * MINUTE),
        _ => (7 * 24 * 60 * MINUTE, 28 * 24 * 60 * MINUTE),
    };
    TimeDelta::microseconds(rng.gen_range(low..high))
}

fn ticket(rng: &mut StdRng, pools: &Pools, created: DateTime<Utc>, code: &str) -> Value {
    let id = uuid(rng);
    let customer = &pools.customers[rng.gen_range(0..pools.customers.len())];
    let updated = created + random_age(rng);
    let closed = rng.gen_bool(0.6).then(|| {
        let open_for = (updated - created).num_microseconds().unwrap_or(0);
        created + TimeDelta::microseconds(rng.gen_range(open_for / 2..=open_for))
    });
    let state = if closed.is_some() {
        &pools.closed_states
    } else {
        &pools.open_states
    };
    let state = state.choose(rng).cloned();
    let tag_count = weighted(rng, &[45, 35, 15, 5]);
    let tags: Vec<&String> = pools.tags.choose_multiple(rng, tag_count).collect();
    let ticket_type = pools.types[weighted(rng, &[60, 30, 10])].clone();
    let owner = pools.owners.choose(rng).cloned();
    let bound_order = if rng.gen_bool(0.55) {
        Value::Null
    } else {
        json!(uuid(rng))
    };

    let (currency, language, country) = match customer.country {
        Country::Cz => (
            if rng.gen_bool(0.95) { "CZK" } else { "EUR" },
            if rng.gen_bool(0.92) { "cs" } else { "en" },
            "CZ",
        ),
        Country::Sk => ("EUR", ["sk", "cs", "en"][weighted(rng, &[80, 12, 8])], "SK"),
    };
    let products: Vec<Value> = (0..weighted(rng, &[5, 60, 20, 8, 4, 3]))
        .map(|_| product(rng, pools, currency))
        .collect();
    let shipping = shipping(rng);

    let email = match &customer.email {
        Some(email) => json!(written_email(rng, email)),
        None => absent(rng),
    };
    let phone = match &customer.phone {
        Some(phone) => json!(written_phone(rng, phone)),
        None => absent(rng),
    };

    let created_local = local(created);
    let days_since_2023 = (created.date_naive()
        - NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid date"))
    .num_days();
    let order_id = (100_000 + days_since_2023 * 37 + rng.gen_range(0..37)).to_string();
    let order_date = created_local.date_naive() - TimeDelta::days(rng.gen_range(1..=45));

    let rating = (closed.is_some() && rng.gen_bool(0.3)).then(|| rng.gen_range(1..=5));
    let rating_comment = match rating {
        Some(_) if rng.gen_bool(0.5) => json!(pick(rng, RATING_COMMENTS)),
        _ => Value::Null,
    };
    // `resolve_by` is keyed by name, like in the documented example; the
    // account's own fields by UUID. A few tickets lack even `resolve_by`, so
    // that a mirror also meets tickets whose `custom_fields` is `{}`.
    let mut custom_fields = Map::new();
    if rng.gen_bool(0.9) {
        let resolve_by = created_local.date_naive() + TimeDelta::days(30);
        custom_fields.insert(
            "resolve_by".to_owned(),
            json!(resolve_by.format("%Y-%m-%d").to_string()),
        );
    }
    if rng.gen_bool(0.45) {
        select(rng, &pools.refund_method, &mut custom_fields);
    }
    if rng.gen_bool(0.3) {
        custom_fields.insert(
            pools.claim_reason.id.clone(),
            json!(pick(rng, CLAIM_REASONS)),
        );
    }
    if rng.gen_bool(0.35) {
        let received =
            (order_date + TimeDelta::days(rng.gen_range(1..=5))).min(created_local.date_naive());
        custom_fields.insert(
            pools.parcel_received.id.clone(),
            json!(received.format("%Y-%m-%d").to_string()),
        );
    }
    let verification_state = [
        "VERIFIED_AUTOMATICALLY",
        "NOT_VERIFIED",
        "VERIFIED_MANUALLY",
    ][weighted(rng, &[70, 20, 10])];
    let is_unread = rng.gen_bool(0.15);

    json!({
        "id": id,
        "code": code,
        "state": state,
        "tags": tags,
        "type": ticket_type,
        "owner": owner,
        "bound_order": bound_order,
        "products": products,
        "shipping": shipping,
        "customer": {
            "name": customer.name,
            "email": email,
            "phone": phone,
        },
        "currency": currency,
        "language": language,
        "country": country,
        "order_id": order_id,
        "order_date": format!("{}T00:00:00.000Z", order_date.format("%Y-%m-%d")),
        "customer_rating": rating,
        "customer_rating_comment": rating_comment,
        "custom_fields": custom_fields,
        "verification_state": verification_state,
        "is_unread": is_unread,
        "created_at": Simulator::format_ts(created_local),
        "updated_at": Simulator::format_ts(local(updated)),
        "closed_at": closed.map(|closed| Simulator::format_ts(local(closed))),
        "portal_url": format!("https://app.retino.com/portal/{code}"),
    })
}
