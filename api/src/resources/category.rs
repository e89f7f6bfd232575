//! `/categories/`: everything comes from the generic viewset; this is only the declaration.

use domain::category::{self, CATEGORY_FILTERING, Category};
use domain::fields::Fields;
use domain::query::Filtering;
use infrastructure::entities::category as table;

use crate::viewset::{Resource, Writable};

pub struct Categories;

impl Resource for Categories {
    type Entity = table::Entity;
    type Read = Category;
    const NAME: &'static str = "Category";
    const PATH: &'static str = "categories";
    const FILTERING: &'static Filtering = &CATEGORY_FILTERING;

    fn fields(model: Fields) -> Fields {
        category::rules(model)
    }
}

impl Writable for Categories {}
