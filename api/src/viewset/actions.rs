//! DRF's mixins as a set: a resource registers any subset of its actions (list, create,
//! retrieve, update, destroy), e.g. `Router::actions::<Notes>(Actions::LIST | Actions::CREATE)`.
//! The routes, `Allow`, `OPTIONS` and the OpenAPI operations follow the set; any other method
//! answers 405 with `Allow`, and a resource with no detail action has no detail route (404),
//! as DRF's router does.

use std::ops::BitOr;

/// A set of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actions(u8);

impl Actions {
    /// `GET` (and `HEAD`) on the list route.
    pub const LIST: Actions = Actions(1);
    /// `POST` on the list route.
    pub const CREATE: Actions = Actions(2);
    /// `GET` (and `HEAD`) on the detail route.
    pub const RETRIEVE: Actions = Actions(4);
    /// `PUT` and `PATCH` on the detail route.
    pub const UPDATE: Actions = Actions(8);
    /// `DELETE` on the detail route.
    pub const DESTROY: Actions = Actions(16);
    /// `ReadOnlyModelViewSet`.
    pub const READ_ONLY: Actions = Actions(1 | 4);
    /// `ModelViewSet`.
    pub const ALL: Actions = Actions(31);

    pub const fn has(self, action: Actions) -> bool {
        self.0 & action.0 == action.0
    }

    /// The actions in both sets.
    pub const fn and(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Does the set write (create, update or destroy)?
    pub const fn writes(self) -> bool {
        self.0 & (2 | 8 | 16) != 0
    }

    /// Does the set need the detail route?
    pub const fn detail(self) -> bool {
        self.0 & (4 | 8 | 16) != 0
    }

    /// `Allow` on the list route.
    pub const fn list_allow(self) -> &'static str {
        match (self.has(Self::LIST), self.has(Self::CREATE)) {
            (true, true) => "GET, HEAD, POST, OPTIONS",
            (true, false) => "GET, HEAD, OPTIONS",
            (false, true) => "POST, OPTIONS",
            (false, false) => "OPTIONS",
        }
    }

    /// `Allow` on the detail route.
    pub const fn detail_allow(self) -> &'static str {
        match (
            self.has(Self::RETRIEVE),
            self.has(Self::UPDATE),
            self.has(Self::DESTROY),
        ) {
            (true, true, true) => "GET, HEAD, PUT, PATCH, DELETE, OPTIONS",
            (true, true, false) => "GET, HEAD, PUT, PATCH, OPTIONS",
            (true, false, true) => "GET, HEAD, DELETE, OPTIONS",
            (true, false, false) => "GET, HEAD, OPTIONS",
            (false, true, true) => "PUT, PATCH, DELETE, OPTIONS",
            (false, true, false) => "PUT, PATCH, OPTIONS",
            (false, false, true) => "DELETE, OPTIONS",
            (false, false, false) => "OPTIONS",
        }
    }
}

impl BitOr for Actions {
    type Output = Actions;

    fn bitor(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_say_their_methods() {
        let create_and_list = Actions::LIST | Actions::CREATE;
        assert!(create_and_list.writes() && !create_and_list.detail());
        assert_eq!(create_and_list.list_allow(), "GET, HEAD, POST, OPTIONS");
        assert_eq!(
            Actions::ALL.detail_allow(),
            "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
        );
        assert_eq!(Actions::READ_ONLY.detail_allow(), "GET, HEAD, OPTIONS");
        assert!(!Actions::READ_ONLY.writes());
        let no_update = Actions::ALL.0 & !Actions::UPDATE.0;
        assert_eq!(
            Actions(no_update).detail_allow(),
            "GET, HEAD, DELETE, OPTIONS"
        );
    }
}
