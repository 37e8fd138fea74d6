"""The API reference page works offline (issue 19): Swagger UI comes from the console's static
files, so with every request to another host blocked the page still lists the operations."""

from urllib.parse import urlsplit

from playwright.sync_api import expect

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def test_the_api_docs_page_lists_the_operations_with_the_network_cut_off(page):
    elsewhere, failed = [], []

    def only_local(route):
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.on("requestfailed", lambda request: failed.append(request.url))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", name="Memory Console API")).to_be_visible()
    recall = page.locator(".opblock").filter(has_text="/api/v1/stores/{store_id}/profiles/{profile_id}/recall")
    expect(recall).to_be_visible()
    expect(recall.locator(".opblock-summary-method")).to_have_text("POST")
    assert page.locator(".opblock").count() >= 40  # every operation of the document
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()  # bearer keys can be tried out

    # Opening an operation shows its documented answers, the 403 of a read-only key among them.
    page.locator(".opblock-post").filter(has_text="/api/v1/stores/{store_id}/trait-groups").first.locator(
        ".opblock-summary-control"
    ).click()
    expect(page.locator(".responses-table tr.response[data-code='403']").first).to_be_visible()

    assert elsewhere == [], f"the page asked other hosts: {elsewhere}"
    assert failed == [] and errors == [], (failed, errors)
