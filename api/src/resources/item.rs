//! `/items/`: everything comes from the generic viewset; this is only the declaration.

use domain::fields::Fields;
use domain::item::{self, ITEM_FILTERING, Item};
use domain::query::Filtering;
use infrastructure::entities::item as table;

use crate::viewset::{Resource, Writable};

pub struct Items;

impl Resource for Items {
    type Entity = table::Entity;
    type Read = Item;
    const NAME: &'static str = "Item";
    const PATH: &'static str = "items";
    const FILTERING: &'static Filtering = &ITEM_FILTERING;

    fn fields(model: Fields) -> Fields {
        item::rules(model)
    }
}

impl Writable for Items {}
