"""The UTM merge: the destination keeps what it had, tags are added, explicit ones win."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from app.clicks.links import tracked_destination

PAIRS = (("utm_source", "newsletter"), ("utm_medium", "email"), ("utm_campaign", "spring"))


def test_plain_destination_gets_tags():
    assert tracked_destination("https://shop.example.com/p", PAIRS) == (
        "https://shop.example.com/p?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
    )


def test_existing_query_is_kept_byte_for_byte():
    url = tracked_destination("https://shop.example.com/p?b=2&a=1&empty=&flag", PAIRS)
    assert url.startswith("https://shop.example.com/p?b=2&a=1&empty=&flag&utm_source=")


def test_fragment_stays_last():
    url = tracked_destination("https://shop.example.com/p?x=1#reviews", PAIRS)
    assert url.endswith("&utm_campaign=spring#reviews")
    assert urlsplit(url).fragment == "reviews"


def test_utm_already_on_destination_wins():
    url = tracked_destination("https://shop.example.com/p?utm_source=partner", PAIRS)
    query = parse_qsl(urlsplit(url).query)
    assert [v for k, v in query if k == "utm_source"] == ["partner"]
    assert ("utm_medium", "email") in query


def test_non_ascii_values_and_paths_are_percent_encoded_utf8():
    pairs = (("utm_source", "nyhetsbrev"), ("utm_campaign", "vår rea & mer"))
    url = tracked_destination("https://bücher.example/straße?q=grün", pairs)
    assert url.isascii()
    assert url.startswith("https://xn--bcher-kva.example/stra%C3%9Fe?q=gr%C3%BCn&")
    assert "utm_campaign=v%C3%A5r%20rea%20%26%20mer" in url
    assert dict(parse_qsl(urlsplit(url).query))["utm_campaign"] == "vår rea & mer"


def test_port_and_path_params_survive():
    url = tracked_destination("http://localhost:8080/a/b;v=1?x=1", PAIRS[:1])
    assert url == "http://localhost:8080/a/b;v=1?x=1&utm_source=newsletter"
