"""Billing: what members can buy, Checkout, and turning Stripe's objects into orders,
subscriptions and ledger entries exactly once.

One module per idea:
- `catalog`: the packs and plans on sale and their Stripe Prices.
- `stripe_objects`: reading Stripe's objects (plain dicts).
- `members`: which member an object belongs to, and the per-member lock.
- `checkout`, `subscriptions`, `refunds`, `disputes` (with `charges`, what the last two share):
  the `apply_*` rules. They take a database session and Stripe objects and change the database;
  they make no network calls and the caller owns the transaction.
- `purchase` and `sync`: the functions that call Stripe first (start Checkout, fetch the current
  object), then apply it in one short transaction of their own, so no lock is held while Stripe
  answers. The webhook processor, the success page and reconciliation all call these.
- `orders`: a member's orders.
- `limits`: how often a member's tab may make this server call Stripe.
- `installation`: this database's id, in every idempotency key sent to Stripe.
- `errors`: billing's refusals; the Stripe adapter's own errors become these at the edge of the
  functions that call Stripe.

Exactly-once rests on the business object, not on the event: a checkout session grants under the
key `checkout:<session id>`, an invoice under `allowance:<invoice id>`, a refund under
`refund:<charge id>:<amount refunded>:<which refunds count>` (and a failed one's return under
`refund-returned:...`), and a lost dispute under `dispute:<dispute id>`,
and every apply function first locks the member's row, so two deliveries of the same fact
serialise and the second finds the work done.
"""

from dashboard_app.domain.billing.catalog import (
    Product,
    catalog_prices,
    find_product,
    forget_prices,
    format_money,
    price_plans,
    products,
)
from dashboard_app.domain.billing.checkout import Fulfilment, apply_checkout, checkout_owner
from dashboard_app.domain.billing.disputes import apply_dispute, open_dispute
from dashboard_app.domain.billing.errors import (
    PaymentsNotConfigured,
    PaymentsUnavailable,
    require_gateway,
    stripe_errors,
)
from dashboard_app.domain.billing.members import UnknownOrder
from dashboard_app.domain.billing.orders import (
    ORDER_FRESHNESS,
    ORDERS_PAGE_SIZE,
    OrdersPage,
    get_order,
    list_orders,
    snapshot_is_fresh,
    stale_order_ids,
)
from dashboard_app.domain.billing.purchase import ensure_customer, portal_url, start_checkout
from dashboard_app.domain.billing.refunds import apply_refund
from dashboard_app.domain.billing.stripe_objects import (
    invoice_charge_id,
    invoice_payment_intent_id,
    invoice_subscription_id,
    object_id,
)
from dashboard_app.domain.billing.subscriptions import (
    apply_invoice,
    apply_subscription,
    live_subscription,
    past_due,
)
from dashboard_app.domain.billing.sync import (
    confirm_checkout,
    fulfil_checkout,
    refresh_all_stale_orders,
    refresh_order,
    refresh_order_when_stale,
    refresh_stale_orders,
    sync_dispute,
    sync_invoice,
    sync_refund,
    sync_subscription,
)

__all__ = [
    "ORDERS_PAGE_SIZE",
    "ORDER_FRESHNESS",
    "Fulfilment",
    "OrdersPage",
    "PaymentsNotConfigured",
    "PaymentsUnavailable",
    "Product",
    "UnknownOrder",
    "apply_checkout",
    "apply_dispute",
    "apply_invoice",
    "apply_refund",
    "apply_subscription",
    "catalog_prices",
    "checkout_owner",
    "confirm_checkout",
    "ensure_customer",
    "find_product",
    "forget_prices",
    "format_money",
    "fulfil_checkout",
    "get_order",
    "invoice_charge_id",
    "invoice_payment_intent_id",
    "invoice_subscription_id",
    "list_orders",
    "live_subscription",
    "object_id",
    "open_dispute",
    "past_due",
    "portal_url",
    "price_plans",
    "products",
    "refresh_order",
    "refresh_order_when_stale",
    "refresh_all_stale_orders",
    "refresh_stale_orders",
    "require_gateway",
    "snapshot_is_fresh",
    "stale_order_ids",
    "stripe_errors",
    "start_checkout",
    "sync_invoice",
    "sync_dispute",
    "sync_refund",
    "sync_subscription",
]
