"""A client generated from the spec by openapi-python-client does full CRUD against the server.

Usage: python client_test.py BASE_URL  (with the generated package importable)
"""
import sys

from items_api_client import Client
from items_api_client.api.categories import (
    categories_create,
    categories_destroy,
    categories_list,
    categories_partial_update,
    categories_retrieve,
)
from items_api_client.api.items import (
    categories_items_create,
    categories_items_list,
    items_create,
    items_destroy,
    items_list,
    items_partial_update,
    items_retrieve,
    items_update,
)
from items_api_client.models import (
    Category,
    CategoryCreate,
    CategoryPatch,
    Item,
    ItemCreate,
    ItemPatch,
    PaginatedCategoryList,
    PaginatedItemList,
    ValidationError,
)
from items_api_client.models.items_list_expand_item import ItemsListExpandItem
from items_api_client.models.items_list_ordering_item import ItemsListOrderingItem


def check(condition, message):
    if not condition:
        sys.exit(f"generated client: {message}")


def main(base_url):
    client = Client(base_url=base_url, raise_on_unexpected_status=True)

    created = items_create.sync_detailed(client=client, body=ItemCreate(name="Generated", description="by the client", price=2.5))
    check(created.status_code == 201, f"create: {created.status_code}")
    item = created.parsed
    check(isinstance(item, Item) and item.name == "Generated" and item.in_stock, f"create body: {item}")
    check(created.headers["location"].endswith(f"/items/{item.id}/"), "create: Location")
    etag = created.headers["etag"]

    page = items_list.sync(client=client, search="client", ordering=[ItemsListOrderingItem("-price")], page_size=10)
    check(isinstance(page, PaginatedItemList) and any(i.id == item.id for i in page.results), f"list: {page}")
    check(items_list.sync(client=client, id_in=[item.id, 0]).count == 1, "list: id__in")

    fetched = items_retrieve.sync(client=client, id=item.id)
    check(fetched == item, f"retrieve: {fetched}")

    replaced = items_update.sync_detailed(
        client=client, id=item.id, if_match=etag, body=ItemCreate(name="Replaced", description="", price=3.0, in_stock=False)
    )
    check(replaced.status_code == 200 and replaced.parsed.name == "Replaced", f"update: {replaced.status_code}")
    stale = items_update.sync_detailed(client=client, id=item.id, if_match=etag, body=ItemCreate(name="x", description="", price=1.0))
    check(stale.status_code == 412, f"update with a stale If-Match: {stale.status_code}")

    patched = items_partial_update.sync(client=client, id=item.id, body=ItemPatch(price=4.5))
    check(isinstance(patched, Item) and patched.price == 4.5 and patched.name == "Replaced", f"partial update: {patched}")

    invalid = items_create.sync_detailed(client=client, body=ItemCreate(name="", description="", price=-1.0))
    check(invalid.status_code == 400 and isinstance(invalid.parsed, ValidationError), f"invalid create: {invalid.status_code}")
    check("name" in invalid.parsed.additional_properties, f"invalid create names the field: {invalid.parsed}")

    deleted = items_destroy.sync_detailed(client=client, id=item.id)
    check(deleted.status_code == 204, f"destroy: {deleted.status_code}")
    check(items_retrieve.sync_detailed(client=client, id=item.id).status_code == 404, "retrieve after destroy")
    print("generated client: create, list, retrieve, update, partial update and destroy all worked")

    created = categories_create.sync_detailed(client=client, body=CategoryCreate(name="Generated tools"))
    check(created.status_code == 201, f"category create: {created.status_code}")
    category = created.parsed
    check(isinstance(category, Category) and category.description == "", f"category create body: {category}")
    taken = categories_create.sync_detailed(client=client, body=CategoryCreate(name="GENERATED TOOLS"))
    check(taken.status_code == 400 and isinstance(taken.parsed, ValidationError), f"taken name: {taken.status_code}")
    check(
        taken.parsed.additional_properties.get("name") == ["category with this name already exists."],
        f"taken name names the field: {taken.parsed}",
    )
    page = categories_list.sync(client=client, name_icontains="generated", id_in=[category.id])
    check(isinstance(page, PaginatedCategoryList) and [c.id for c in page.results] == [category.id], f"category list: {page}")
    patched = categories_partial_update.sync(client=client, id=category.id, body=CategoryPatch(description="by the client"))
    check(isinstance(patched, Category) and patched.description == "by the client", f"category patch: {patched}")
    check(categories_retrieve.sync(client=client, id=category.id) == patched, "category retrieve")
    deleted = categories_destroy.sync_detailed(client=client, id=category.id)
    check(deleted.status_code == 204, f"category destroy: {deleted.status_code}")
    print("generated client: categories too, a taken name included")

    tools = categories_create.sync(client=client, body=CategoryCreate(name="Client tools"))
    nested = categories_items_create.sync_detailed(
        client=client, parent=tools.id, body=ItemCreate(name="Nested", description="", price=1.0))
    check(nested.status_code == 201 and nested.parsed.category == tools.id, f"nested create: {nested}")
    page = categories_items_list.sync(client=client, parent=tools.id)
    check([i.id for i in page.results] == [nested.parsed.id], f"nested list: {page}")
    expanded = items_list.sync(
        client=client, expand=[ItemsListExpandItem.CATEGORY], category_name_icontains="client",
        ordering=[ItemsListOrderingItem("category__name")])
    first = expanded.results[0]
    check(isinstance(first.category, Category) and first.category.id == tools.id, f"expand: {first}")
    refused = categories_destroy.sync_detailed(client=client, id=tools.id)
    check(refused.status_code == 409, f"protected destroy: {refused.status_code}")
    check(items_destroy.sync_detailed(client=client, id=nested.parsed.id).status_code == 204, "nested item destroy")
    check(categories_destroy.sync_detailed(client=client, id=tools.id).status_code == 204, "category destroy")
    print("generated client: nested routes, expand, related filter and ordering, the protected delete")


if __name__ == "__main__":
    main(sys.argv[1])
