//! `/items/`: everything comes from the generic viewset; this is only the declaration.

use domain::fields::Fields;
use domain::item::{self, ITEM_FILTERING, Item};
use domain::query::Filtering;
use infrastructure::entities::item as table;

use super::Categories;
use crate::viewset::{OnDelete, Relation, Resource, Writable};

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

    fn relations() -> Vec<Relation> {
        // `ON DELETE RESTRICT` in migration `create_categories`.
        vec![Relation::to::<Categories>(
            "category",
            table::Column::CategoryId,
            OnDelete::Protect,
        )]
    }
}

impl Writable for Items {}
