"""The oracle's JSONPath is neo-go's (pkg/services/oracle/jsonpath/jsonpath.go and jsonpath_test.go).

The first tables are neo-go's ``jsonpath_test.go``, case by case, with neo-go's subtest names as ids.
neo-go compares with ``require.JSONEq``; these compare the exact bytes the oracle would return. The
rest are our own cases for the limits and the corners of the dialect.
"""

from __future__ import annotations

import pytest

from neo_service_layer.enclave.oracle.jsonpath import MAX_DEPTH, MAX_OBJECTS, JsonPathError, parse_path
from neo_service_layer.enclave.oracle.ordered_json import decode_first, encode

BIG_NUM = str(2**31)  # math.MaxInt32 + 1


def get(document: str, path: str) -> bytes:
    """neo-go's ``unmarshalGet`` + ``json.Marshal``: the selection, encoded."""
    return encode(parse_path(path).select(decode_first(document)))


def construct(width: int, index: str) -> str:
    """TestUnion's ``construct``: ``[index,index,...]`` with ``width`` items."""
    return "[" + ",".join([index] * width) + "]"


# TestInvalidPaths (jsonpath_test.go): each fails on the document {}.
INVALID_PATHS = [
    ".",
    "$1",
    "&",
    "$&",
    "$.&",
    "$.[0]",
    "$..",
    "$..*",
    "$..&",
    "$..1",
    "$[&]",
    "$[**]",
    "$[1&]",
    "$[" + BIG_NUM + "]",
    "$[" + BIG_NUM + ":]",
    "$[:" + BIG_NUM + "]",
    "$[1," + BIG_NUM + "]",
    "$[" + BIG_NUM + "[]]",
    "$['a'&]",
    "$['a'1]",
    "$['a",
    "$['\\u123']",
    "$['s','\\u123']",
    "$[[]]",
    "$[1,'a']",
    "$[1,1&",
    "$[1,1[]]",
    "$[1:&]",
    "$[1:1[]]",
    "$[1:[]]",
    "$[1:[]]",  # listed twice in neo-go
    "$[",
]


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=f"TestInvalidPaths/{p}#{i}") for i, p in enumerate(INVALID_PATHS)]
)
def test_invalid_paths(path: str) -> None:
    with pytest.raises(JsonPathError):
        get("{}", path)
    # None of them depends on the document: the API can reject each one up front.
    with pytest.raises(JsonPathError):
        parse_path(path)


IDENT_JS = """{
    "store": {
        "name": "big",
        "sub": [
            { "name": "sub1" },
            { "name": "sub2" }
        ],
        "partner": { "name": "ppp" }
    },
    "another": { "name": "small" }
}"""
DEEP_OBJECT_JS = '{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}'
DEEP_ARRAY_JS = "[[[[[[[1]]]]]]]"
SKIP_JS = '[[1,2],{"1":"4"},[5,6]]'
UNION_JS = '["a",{"x":1,"y":2,"z":3},"c","d"]'
CSHARP_JS = """{
    "store": {
        "book": [
            {
                "category": "reference",
                "author": "Nigel Rees",
                "title": "Sayings of the Century",
                "price": 8.95
            },
            {
                "category": "fiction",
                "author": "Evelyn Waugh",
                "title": "Sword of Honour",
                "price": 12.99
            },
            {
                "category": "fiction",
                "author": "Herman Melville",
                "title": "Moby Dick",
                "isbn": "0-553-21311-3",
                "price": 8.99
            },
            {
                "category": "fiction",
                "author": "J. R. R. Tolkien",
                "title": "The Lord of the Rings",
                "isbn": "0-395-19395-8",
                "price": null
            }
        ],
        "bicycle": {
                "color": "red",
            "price": 19.95
        }
        },
    "expensive": 10,
    "data": null
}"""
BOOK0 = '{"category":"reference","author":"Nigel Rees","title":"Sayings of the Century","price":8.95}'
BOOK1 = '{"category":"fiction","author":"Evelyn Waugh","title":"Sword of Honour","price":12.99}'
BOOK2 = (
    '{"category":"fiction","author":"Herman Melville","title":"Moby Dick",'
    '"isbn":"0-553-21311-3","price":8.99}'
)
BOOK3 = (
    '{"category":"fiction","author":"J. R. R. Tolkien","title":"The Lord of the Rings",'
    '"isbn":"0-395-19395-8","price":null}'
)
BOOKS = f"[{BOOK0},{BOOK1},{BOOK2},{BOOK3}]"
BICYCLE = '{"color":"red","price":19.95}'

SELECTIONS = [
    # TestDescendByIdent
    pytest.param(IDENT_JS, "$.store.name", '["big"]', id="TestDescendByIdent/$.store.name"),
    pytest.param(IDENT_JS, "$['store']['name']", '["big"]', id="TestDescendByIdent/$['store']['name']"),
    pytest.param(IDENT_JS, "$[*].name", '["big","small"]', id="TestDescendByIdent/$[*].name"),
    pytest.param(IDENT_JS, "$.*.name", '["big","small"]', id="TestDescendByIdent/$.*.name"),
    pytest.param(IDENT_JS, "$..store.name", '["big"]', id="TestDescendByIdent/$..store.name"),
    pytest.param(
        IDENT_JS, "$.store..name", '["big","ppp","sub1","sub2"]', id="TestDescendByIdent/$.store..name"
    ),
    pytest.param(IDENT_JS, "$..sub.name", "[]", id="TestDescendByIdent/$..sub.name"),
    pytest.param(IDENT_JS, "$..sub..name", '["sub1","sub2"]', id="TestDescendByIdent/$..sub..name"),
    pytest.param(
        DEEP_OBJECT_JS, "$.a.b.c.d.e.f", '[{"g":1}]', id="TestDescendByIdent/big_depth/single_field/max"
    ),
    pytest.param(
        DEEP_OBJECT_JS, "$.*.*.*.*.*.*", '[{"g":1}]', id="TestDescendByIdent/big_depth/wildcard/max"
    ),
    # TestDescendByIndex
    pytest.param('["a","b","c","d"]', "$[0]", '["a"]', id="TestDescendByIndex/$[0]"),
    pytest.param('["a","b","c","d"]', "$[3]", '["d"]', id="TestDescendByIndex/$[3]"),
    pytest.param('["a","b","c","d"]', "$[1:2]", '["b"]', id="TestDescendByIndex/$[1:2]"),
    pytest.param('["a","b","c","d"]', "$[1:-1]", '["b","c"]', id="TestDescendByIndex/$[1:-1]"),
    pytest.param('["a","b","c","d"]', "$[-3:-1]", '["b","c"]', id="TestDescendByIndex/$[-3:-1]"),
    pytest.param('["a","b","c","d"]', "$[-3:3]", '["b","c"]', id="TestDescendByIndex/$[-3:3]"),
    pytest.param('["a","b","c","d"]', "$[:3]", '["a","b","c"]', id="TestDescendByIndex/$[:3]"),
    pytest.param('["a","b","c","d"]', "$[:100]", '["a","b","c","d"]', id="TestDescendByIndex/$[:100]"),
    pytest.param('["a","b","c","d"]', "$[1:]", '["b","c","d"]', id="TestDescendByIndex/$[1:]"),
    pytest.param('["a","b","c","d"]', "$[2:1]", "[]", id="TestDescendByIndex/$[2:1]"),
    pytest.param(
        DEEP_ARRAY_JS, "$[0][0][0][0][0][0]", "[[1]]", id="TestDescendByIndex/big_depth/single_index/max"
    ),
    pytest.param(
        DEEP_ARRAY_JS, "$[0:][0:][0:][0:][0:][0:]", "[[1]]", id="TestDescendByIndex/big_depth/slice/max"
    ),
    pytest.param(SKIP_JS, "$[:][1]", "[2,6]", id="TestDescendByIndex/$[:][1],_skip_wrong_types"),
    pytest.param(SKIP_JS, "$[*].*", '[1,2,"4",5,6]', id="TestDescendByIndex/$[*].*,_flatten"),
    pytest.param(
        '[[1,2],3,{"1":"4"},[5,6]]', "$[*][1:]", "[2,6]", id="TestDescendByIndex/$[*].[1:],_skip_wrong_types"
    ),
    # TestUnion
    pytest.param(UNION_JS, "$[0,2]", '["a","c"]', id="TestUnion/$[0,2]"),
    pytest.param(UNION_JS, "$[1]['x','z']", "[1,3]", id="TestUnion/$[1]['x','z']"),
    # TestCSharpCompat
    pytest.param(
        CSHARP_JS,
        "$.store.book[*].author",
        '["Nigel Rees","Evelyn Waugh","Herman Melville","J. R. R. Tolkien"]',
        id="TestCSharpCompat/$.store.book[*].author",
    ),
    pytest.param(
        CSHARP_JS,
        "$..author",
        '["Nigel Rees","Evelyn Waugh","Herman Melville","J. R. R. Tolkien"]',
        id="TestCSharpCompat/$..author",
    ),
    pytest.param(CSHARP_JS, "$.store.*", f"[{BOOKS},{BICYCLE}]", id="TestCSharpCompat/$.store.*"),
    pytest.param(
        CSHARP_JS, "$.store..price", "[19.95,8.95,12.99,8.99,null]", id="TestCSharpCompat/$.store..price"
    ),
    pytest.param(CSHARP_JS, "$..book[2]", f"[{BOOK2}]", id="TestCSharpCompat/$..book[2]"),
    pytest.param(CSHARP_JS, "$..book[-2]", f"[{BOOK2}]", id="TestCSharpCompat/$..book[-2]"),
    pytest.param(CSHARP_JS, "$..book[0,1]", f"[{BOOK0},{BOOK1}]", id="TestCSharpCompat/$..book[0,1]"),
    pytest.param(CSHARP_JS, "$..book[:2]", f"[{BOOK0},{BOOK1}]", id="TestCSharpCompat/$..book[:2]"),
    pytest.param(CSHARP_JS, "$..book[1:2]", f"[{BOOK1}]", id="TestCSharpCompat/$..book[1:2]"),
    pytest.param(CSHARP_JS, "$..book[-2:]", f"[{BOOK2},{BOOK3}]", id="TestCSharpCompat/$..book[-2:]"),
    pytest.param(CSHARP_JS, "$..book[2:]", f"[{BOOK2},{BOOK3}]", id="TestCSharpCompat/$..book[2:]"),
    pytest.param(
        CSHARP_JS,
        "",
        f'[{{"store":{{"book":{BOOKS},"bicycle":{BICYCLE}}},"expensive":10,"data":null}}]',
        id="TestCSharpCompat/#00",
    ),
    pytest.param(
        CSHARP_JS, "$.*", f'[{{"book":{BOOKS},"bicycle":{BICYCLE}}},10,null]', id="TestCSharpCompat/$.*"
    ),
    pytest.param(CSHARP_JS, "$..invalidfield", "[]", id="TestCSharpCompat/$..invalidfield"),
]


@pytest.mark.parametrize(("document", "path", "expected"), SELECTIONS)
def test_neo_go_selections(document: str, path: str, expected: str) -> None:
    assert get(document, path) == expected.encode()


FAILURES = [
    # TestDescendByIdent/big_depth, TestDescendByIndex/big_depth: one level past MAX_DEPTH.
    pytest.param(
        DEEP_OBJECT_JS, "$.a.b.c.d.e.f.g", "path too deep", id="TestDescendByIdent/big_depth/single_field"
    ),
    pytest.param(
        DEEP_OBJECT_JS, "$.*.*.*.*.*.*.*", "path too deep", id="TestDescendByIdent/big_depth/wildcard"
    ),
    pytest.param(
        DEEP_ARRAY_JS,
        "$[0][0][0][0][0][0][0]",
        "path too deep",
        id="TestDescendByIndex/big_depth/single_index",
    ),
    pytest.param(
        DEEP_ARRAY_JS,
        "$[0:][0:][0:][0:][0:][0:][0:]",
        "path too deep",
        id="TestDescendByIndex/big_depth/slice",
    ),
    # TestUnion/big_amount_of_intermediate_objects: the last step passes MAX_OBJECTS.
    pytest.param(
        "[[[[{}]]]]", "$" + construct(10, "0") * 4, "too many", id="TestUnion/big_amount/index,_array"
    ),
    pytest.param(
        "[[[[{},{}]]]]",
        "$" + construct(10, "0") * 3 + ".*",
        "too many",
        id="TestUnion/big_amount/asterisk,_array",
    ),
    pytest.param(
        "[[[[{},{}]]]]", "$" + construct(10, "0") * 3 + "[0:2]", "too many", id="TestUnion/big_amount/range"
    ),
    pytest.param(
        '[[[{"a":{"a":{}}}]]]',
        "$" + construct(10, "0") * 3 + "..a",
        "too many",
        id="TestUnion/big_amount/recursive_descent",
    ),
    pytest.param(
        '[[[{"x":{},"y":{}}]]]',
        "$" + construct(10, "0") * 3 + "['x','y']",
        "too many",
        id="TestUnion/big_amount/string_union",
    ),
    # neo-go builds these two with `"a"`, which is not a quoted name: they fail as syntax errors.
    pytest.param(
        '{"a":{"a":{"a":{"a":{}}}}}',
        "$" + construct(10, '"a"') * 4,
        "invalid path",
        id="TestUnion/big_amount/index,_map",
    ),
    pytest.param(
        '{"a":{"a":{"a":{"x":{},"y":{}}}}}',
        "$" + construct(10, "'a'") * 3 + ".*",
        "too many",
        id="TestUnion/big_amount/asterisk,_map",
    ),
    # TestCSharpCompat/bad_cases
    pytest.param(CSHARP_JS, '$..book[*].author"', "invalid path", id="TestCSharpCompat/bad_cases"),
]


@pytest.mark.parametrize(("document", "path", "reason"), FAILURES)
def test_neo_go_failures(document: str, path: str, reason: str) -> None:
    with pytest.raises(JsonPathError, match=reason):
        get(document, path)


# Our own cases: what jsonpath.go does, derived from its code (cited per case).


def nested(key: str, levels: int) -> str:
    """``{"key":{"key":...{"key":0}}}`` with ``levels`` objects."""
    return ('{"' + key + '":') * levels + "0" + "}" * levels


def array_of(count: int, item: str) -> str:
    return "[" + ",".join([item] * count) + "]"


OWN_SELECTIONS = [
    # Get: the empty path and "$" select the document itself.
    pytest.param('{"a":1}', "", '[{"a":1}]', id="empty-path"),
    pytest.param('{"a":1}', "$", '[{"a":1}]', id="root-only"),
    pytest.param("7", "$.a", "[]", id="name-on-a-number"),
    # descendByIdentAux takes the first member of a name; descend takes every member.
    pytest.param('{"a":1,"a":2}', "$.a", "[1]", id="duplicate-key-first-wins"),
    pytest.param('{"a":1,"a":2}', "$.*", "[1,2]", id="duplicate-key-wildcard-both"),
    pytest.param('{"a":1,"a":2}', "$['a','a']", "[1,1]", id="union-repeats-names"),
    pytest.param('{"b":2,"a":1}', "$['a','b']", "[1,2]", id="union-in-path-order"),
    pytest.param('[{"a":1,"b":2},{"b":3}]', "$[*]['a','b']", "[1,2,3]", id="union-object-by-object"),
    pytest.param("[1,2,3]", "$[2,0,2]", "[3,1,3]", id="index-union-repeats"),
    # Identifiers: [A-Za-z_][A-Za-z0-9_]* (parseIdent).
    pytest.param('{"_a1_B":1}', "$._a1_B", "[1]", id="identifier-chars"),
    # Quoted names are the inside of a JSON string (processLeftBracket: json.Unmarshal).
    pytest.param('{"a b":1}', "$['a b']", "[1]", id="quoted-space"),
    pytest.param('{"A":1}', "$['\\u0041']", "[1]", id="quoted-escape"),
    pytest.param('{"a\\"b":1}', "$['a\\\"b']", "[1]", id="quoted-escaped-quote"),
    pytest.param('{"é":1}', "$['é']", "[1]", id="quoted-non-ascii"),
    pytest.param('{"\\ud800":1}', "$['\\udfff']", "[1]", id="quoted-lone-surrogates-are-both-U+FFFD"),
    pytest.param('{"":1}', "$['']", "[1]", id="quoted-empty"),
    # Indices: int32, negative from the end, out of range skipped (descendByIndex).
    pytest.param("[1,2,3,4]", "$[-1]", "[4]", id="index-negative"),
    pytest.param("[1,2,3,4]", "$[-5]", "[]", id="index-negative-out-of-range"),
    pytest.param("[1,2,3,4]", "$[4]", "[]", id="index-past-end"),
    pytest.param("[1,2,3,4]", "$[-0]", "[1]", id="index-minus-zero"),
    pytest.param("[1,2,3,4]", "$[007]", "[]", id="index-leading-zeros"),
    pytest.param("[1,2,3,4]", "$[" + str(2**31 - 1) + "]", "[]", id="index-int32-max"),
    pytest.param("[1,2,3,4]", "$[" + str(-(2**31)) + "]", "[]", id="index-int32-min"),
    pytest.param("[1,2,3,4]", "$[0000000000000000000001]", "[2]", id="index-many-leading-zeros"),
    # Slices (descendByRange): an end of 0 or none is the array's end; both ends clamp high.
    pytest.param("[1,2,3,4]", "$[:]", "[1,2,3,4]", id="slice-all"),
    pytest.param("[1,2,3,4]", "$[:0]", "[1,2,3,4]", id="slice-end-zero-is-the-end"),
    pytest.param("[1,2,3,4]", "$[2:0]", "[3,4]", id="slice-start-to-end-zero"),
    pytest.param("[1,2,3,4]", "$[0:2147483647]", "[1,2,3,4]", id="slice-huge-end"),
    pytest.param("[1,2,3,4]", "$[2147483647:]", "[]", id="slice-huge-start"),
    pytest.param("[1,2,3,4]", "$[-4:]", "[1,2,3,4]", id="slice-negative-start-at-zero"),
    pytest.param("[1,2,3,4]", "$[1:-10]", "[]", id="slice-end-before-start"),
    pytest.param("[1,2,3,4]", "$[-2147483648:-2147483648]", "[]", id="slice-huge-negatives-empty"),
    pytest.param('{"a":[1]}', "$[0:]", "[]", id="slice-skips-objects"),
    # Recursive descent: names level by level, breadth first (descendRecursive).
    pytest.param('{"a":{"a":1},"b":[{"a":2}]}', "$..a", '[{"a":1},1,2]', id="recursive-breadth-first"),
    # ..a spends one depth level per document level it walks; with six budget levels it finds
    # the name on levels 0..6 of a deeper document and stops there without failing.
    pytest.param(nested("a", 10), "$..a", None, id="recursive-stops-at-depth"),
    pytest.param("1", "$..a.b.c.d.e.f", "[]", id="recursive-on-a-scalar-spends-one-level"),
]


@pytest.mark.parametrize(("document", "path", "expected"), OWN_SELECTIONS)
def test_own_selections(document: str, path: str, expected: str | None) -> None:
    if expected is None:  # recursive-stops-at-depth: the 7 values of levels 0..6, outermost first
        values = [nested("a", n) for n in range(9, 2, -1)]
        expected = "[" + ",".join(values) + "]"
    assert get(document, path) == expected.encode()


OWN_FAILURES = [
    # Syntax neo-go does not have.
    pytest.param("[1,2,3]", "$[0:2:1]", "invalid path", id="slice-step"),
    pytest.param("[1,2,3]", "$[::]", "invalid path", id="slice-two-colons"),
    pytest.param('{"a":1}', "$.'a'", "invalid path", id="quoted-after-dot"),
    pytest.param('{"a":1}', '$["a"]', "invalid path", id="double-quoted-name"),
    pytest.param('{"a":1}', "a", "does not start with", id="no-root"),
    pytest.param('{"a":1}', "$$", "invalid path", id="two-roots"),
    pytest.param('{"a":1}', "$.a.", "invalid path", id="trailing-dot"),
    pytest.param('{"a":1}', "$ .a", "invalid path", id="space"),
    pytest.param('{"a-b":1}', "$.a-b", "invalid path", id="dash-in-identifier"),
    pytest.param('{"1a":1}', "$.1a", "invalid path", id="identifier-starting-with-digit"),
    pytest.param('{"é":1}', "$.é", "invalid path", id="non-ascii-identifier"),
    pytest.param("[1]", "$[-]", "invalid index", id="bare-minus"),
    pytest.param("[1]", "$[+1]", "invalid path", id="plus-sign"),
    pytest.param("[1]", "$[" + str(-(2**31) - 1) + "]", "int32", id="index-below-int32"),
    pytest.param("[1]", "$[1" + "0" * 5000 + "]", "invalid index", id="index-5000-digits"),
    pytest.param('{"a":1}', "$['a\"b']", "invalid quoted name", id="quoted-raw-double-quote"),
    pytest.param('{"a":1}', "$['a\tb']", "invalid quoted name", id="quoted-control-character"),
    pytest.param('{"a":1}', "$['\\x']", "invalid quoted name", id="quoted-bad-escape"),
    pytest.param('{"a":1}', "$['\ud800']", "not UTF-8", id="lone-surrogate-in-path"),
    # Depth (maxNestingDepth): every step but ..name spends one level.
    pytest.param(nested("a", 7), "$.a.b.c.d.e.f.g", "path too deep", id="depth-7-names"),
    pytest.param(nested("a", 7), "$[*][*][*][*][*][*][*]", "path too deep", id="depth-7-wildcards"),
    pytest.param(nested("a", 7), "$..a.a.a.a.a.a.a", "path too deep", id="depth-leading-recursive-plus-6"),
    # ..a on {"a":1} walks 2 levels (the root, then 1) before it runs out of values: 4 are left
    # for 5 steps. On the document 1 it walks one level, and the same path selects nothing.
    pytest.param('{"a":1}', "$..a.b.c.d.e.f", "path too deep", id="depth-recursive-spent-by-the-document"),
    # Objects (maxObjects).
    pytest.param(array_of(MAX_OBJECTS + 1, "1"), "$[*]", "too many", id="wildcard-1025"),
    pytest.param(array_of(MAX_OBJECTS + 1, "1"), "$[:]", "too many", id="slice-1025"),
    pytest.param(
        array_of(MAX_OBJECTS + 1, "1"), "$[-2147483648:]", "too many", id="slice-huge-negative-start-1025"
    ),
    pytest.param("[[1]]", "$" + construct(33, "0") + construct(32, "0"), "too many", id="index-union-1056"),
    pytest.param(
        '{"a":0,"b":' + array_of(MAX_OBJECTS, '{"a":1}') + "}",
        "$..a",
        "too many",
        id="recursive-1025-over-two-levels",
    ),
    # descendByRange slices arr[-6:4] here and panics; we fail instead (jsonpath.py docstring).
    pytest.param("[1,2,3,4]", "$[-10:]", "before the array", id="slice-start-before-array-neo-go-panics"),
]


@pytest.mark.parametrize(("document", "path", "reason"), OWN_FAILURES)
def test_own_failures(document: str, path: str, reason: str) -> None:
    with pytest.raises(JsonPathError, match=reason):
        get(document, path)


@pytest.mark.parametrize(
    ("path", "rejected"),
    [
        pytest.param("$.a.b.c.d.e.f", False, id="six-names"),
        pytest.param("$..a.b.c.d.e.f.g", True, id="recursive-then-six"),
        pytest.param("$.a..b.c.d.e.f", False, id="name-recursive-five"),
    ],
)
def test_parse_path_rejects_only_paths_that_always_fail(path: str, rejected: bool) -> None:
    if rejected:
        with pytest.raises(JsonPathError, match="path too deep"):
            parse_path(path)
        return
    assert len(parse_path(path).steps) == MAX_DEPTH
    # "$.a..b.c.d.e.f" succeeds when .a selects nothing (..b then walks no level) ...
    assert get('{"x":1}', path) == b"[]"


def test_recursive_after_a_step_walks_its_levels() -> None:
    # ... and fails when .a selects something, for ..b then spends a level.
    with pytest.raises(JsonPathError, match="path too deep"):
        get('{"a":{"b":1}}', "$.a..b.c.d.e.f")


def test_exactly_max_objects() -> None:
    document = array_of(MAX_OBJECTS, "1")
    expected = array_of(MAX_OBJECTS, "1").encode()
    assert get(document, "$[*]") == expected
    assert get(document, "$[:]") == expected
    assert get("[1]", "$" + construct(MAX_OBJECTS, "0")) == expected
    assert get(array_of(MAX_OBJECTS, '{"a":1}'), "$..a") == expected


def test_recursive_stops_silently_when_a_level_is_too_wide() -> None:
    # descendRecursive ignores descend's overflow: 1,025 children end the walk, not the request.
    assert get(array_of(MAX_OBJECTS + 1, '{"a":1}'), "$..a") == b"[]"
    assert get('{"a":1,"b":' + array_of(MAX_OBJECTS + 1, '{"a":2}') + "}", "$..a") == b"[1]"


def test_a_parsed_path_is_reusable() -> None:
    compiled = parse_path("$.a[1:]")
    assert compiled.text == "$.a[1:]"
    assert encode(compiled.select(decode_first('{"a":[1,2,3]}'))) == b"[2,3]"
    assert encode(compiled.select(decode_first('{"a":[4,5]}'))) == b"[5]"
