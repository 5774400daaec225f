import time
from tests.test_touchpoint_js import *  # noqa
from tests.browser import browser, page  # noqa

def test_diag(page, shop):
    for i in range(4):
        t=time.perf_counter(); page.goto(shop.url(f"/landing?tp_cid={CLICK}")); a=time.perf_counter()-t
        t=time.perf_counter(); page.goto(shop.url("/contact")); b=time.perf_counter()-t
        t=time.perf_counter(); submit_contact_form(page, shop); c=time.perf_counter()-t
        print(f"landing {a:.3f} contact {b:.3f} submit {c:.3f}")
