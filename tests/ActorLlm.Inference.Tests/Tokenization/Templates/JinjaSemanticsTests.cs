using ActorLlm.Inference.Tokenization.Templates;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization.Templates;

/// <summary>
/// The engine's semantics, case by case. Every expected value below is what jinja2 3.1.6, configured as transformers
/// configures it (trim_blocks, lstrip_blocks, loopcontrols, json.dumps tojson, raise_exception), rendered for the same
/// template and context (messages = [system " sys ", user "Hi 😀"], d = {a: 1, b: [1, 2.5, None, True, "x"]},
/// n = None, s = "Hello World"); errors name jinja2's exception type and message.
/// </summary>
public class JinjaSemanticsTests
{
    private static Dictionary<string, object?> Context() => new()
    {
        ["messages"] = new List<object?>
        {
            new Dictionary<string, object?> { ["role"] = "system", ["content"] = " sys " },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "Hi 😀" },
        },
        ["d"] = new Dictionary<string, object?> { ["a"] = 1L, ["b"] = new List<object?> { 1L, 2.5, null, true, "x" } },
        ["n"] = null,
        ["s"] = "Hello World",
    };

    private static string Render(string source) => JinjaTemplate.Parse(source).Render(Context());

    [Theory]
    [MemberData(nameof(Whitespace))]
    [MemberData(nameof(Loops))]
    [MemberData(nameof(Assignments))]
    [MemberData(nameof(Macros))]
    [MemberData(nameof(Expressions))]
    [MemberData(nameof(StringMethods))]
    [MemberData(nameof(Filters))]
    [MemberData(nameof(Tests))]
    [MemberData(nameof(Undefined))]
    public void Renders_like_jinja2(string source, string expected) => Assert.Equal(expected, Render(source));

    [Theory]
    [MemberData(nameof(RuntimeErrors))]
    public void Fails_at_run_time_like_jinja2(string source, string expected)
    {
        var template = JinjaTemplate.Parse(source);
        var exception = Assert.Throws<ChatTemplateException>(() => template.Render(Context()));
        var (type, message) = (expected[..expected.IndexOf(':')], expected[(expected.IndexOf(':') + 2)..]);
        Assert.Equal(type == "TemplateError" ? ChatTemplateErrorKind.Raised : ChatTemplateErrorKind.Runtime, exception.Kind);
        Assert.Equal(type != "TemplateError", exception.IsTemplateError);
        Assert.Equal(message, exception.Message);
    }

    [Theory]
    [MemberData(nameof(SyntaxErrors))]
    public void Rejects_at_parse_time_like_jinja2(string source, string expected)
    {
        var exception = Assert.Throws<ChatTemplateException>(() => JinjaTemplate.Parse(source));
        Assert.Equal(ChatTemplateErrorKind.Syntax, exception.Kind);
        Assert.True(exception.IsTemplateError);
        var line = System.Text.RegularExpressions.Regex.Match(expected, @"^Template\w+Error: .* line (\d+)$", System.Text.RegularExpressions.RegexOptions.Singleline);
        if (line.Success)
        {
            Assert.Equal(int.Parse(line.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), exception.Line);
            Assert.EndsWith($"(line {exception.Line})", exception.Message);
        }
    }

    public static TheoryData<string, string> Whitespace => new()
    {
        { "a\n{% if true %}\nb\n{% endif %}\nc", "a\nb\nc" },
        { "  {% if true %}x{% endif %}\n  y", "x  y" },
        { "a\n    {% for i in [1,2] %}\n    {{ i }}\n    {% endfor %}\nb", "a\n    1\n    2\nb" },
        { "a  {%- if true -%}  b  {%- endif -%}  c", "abc" },
        { "a\n  {{- 'b' -}}\n  c", "abc" },
        { "a\n  {%+ if true %}b{% endif %}", "a\n  b" },
        { "a\n{% if true +%}\nb{% endif %}", "a\n\nb" },
        { "a\n  {# comment #}\nb", "a\nb" },
        { "a {#- comment -#} b", "ab" },
        { "{% raw %}{{ not rendered }}{% endraw %}", "{{ not rendered }}" },
        { "x\r\ny\rz\n", "x\ny\nz" },
        { "{{ 'a' }}  {% if true %}\nb{% endif %}", "a  b" },
        { "text\n\n", "text\n" },
        { "\t {% set x = 1 %}\n{{ x }}", "1" },
    };

    public static TheoryData<string, string> Loops => new()
    {
        { "{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ x }};{% endfor %}", "103TrueFalse3a;212FalseFalse3b;321FalseTrue3c;" },
        { "{% for x in [1,2,3] %}{{ loop.previtem }}|{{ loop.nextitem }};{% endfor %}", "|2;1|3;2|;" },
        { "{% for x in [] %}a{% else %}empty{% endfor %}", "empty" },
        { "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "a=1;b=[1, 2.5, None, True, 'x'];" },
        { "{% for x in [1,2,3,4,5] if x is odd %}{{ loop.index }}:{{ x }} {% endfor %}", "1:1 2:3 3:5 " },
        { "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", "0134" },
        { "{% for a in [[1,2],[3]] %}{% for b in a %}{{ loop.index }}{{ b }}{% endfor %}/{{ loop.index }};{% endfor %}", "1122/1;13/2;" },
        { "{% set x = 0 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", "120" },
        { "{% for c in 'ab😀' %}[{{ c }}]{% endfor %}", "[a][b][😀]" },
        { "{% for k in d %}{{ k }}{% endfor %}", "ab" },
        { "{% for i in [1,2,3] %}{{ loop.cycle('x','y') }}{% endfor %}", "xyx" },
    };

    public static TheoryData<string, string> Assignments => new()
    {
        { "{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }} {{ ns }}", "2 True <Namespace {'count': 2, 'found': True}>" },
        { "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = 1, 2 %}{{ t }}", "12 (1, 2)" },
        { "{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]", "[inner 2]" },
        { "{% set block | upper %}shout{% endset %}{{ block }}", "SHOUT" },
        { "{% if true %}{% set z = 'set in if' %}{% endif %}{{ z }}", "set in if" },
        { "{% with a = 5 %}{{ a }}{% endwith %}[{{ a }}]", "5[]" },
        { "{% set messages = messages[1:] %}{{ messages | length }}", "1" },
    };

    public static TheoryData<string, string> Macros => new()
    {
        { "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', greeting='Hi') }} {{ greet('Cy', 'Yo') }}", "Hello, Ann! Hi, Bob! Yo, Cy!" },
        { "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", "321" },
        { "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body{% endcall %}", "<body>" },
        { "{% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, x=3) }}", "1|(2,)|{'x': 3}" },
        { "{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}", "[]" },
        { "{% set x = 'early' %}{% macro show() %}{{ x }}{% endmacro %}{% set x = 'late' %}{{ show() }}", "late" },
        { "{% macro m() %}x{% endmacro %}{{ m }}", "<Macro 'm'>" },
    };

    public static TheoryData<string, string> Expressions => new()
    {
        { "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 6 / 3 }}", "7 9 3 -4 1 2 1024 3.5 2.0" },
        { "{{ 'a' ~ 1 ~ none ~ true ~ [1] }} {{ 'x' + 'y' }} {{ 'ab' * 3 }} {{ [1] + [2] }}", "a1NoneTrue[1] xy ababab [1, 2]" },
        { "{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1,2] == [1,2] }} {{ (1,2) == [1,2] }}", "True True True True False True False" },
        { "{{ 'b' in 'abc' }} {{ 2 in [1,2] }} {{ 'a' in d }} {{ 'z' not in d }}", "True True True True" },
        { "{{ none or 'x' }} {{ 0 and 1 }} {{ not [] }} {{ 'a' if false else 'b' }} [{{ 'a' if false }}]", "x 0 True b []" },
        { "{{ s[0] }} {{ s[-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ s[:5] }} {{ [1,2,3][::2] }} {{ messages[-1]['content'] }} {{ messages.0.role }}", "H d el dlroW olleH Hello [1, 3] Hi 😀 system" },
        { "{{ d.a }} {{ d['b'][1] }} {{ d.missing }}|{{ d['missing'] }}|{{ n.x }}", "1 2.5 ||" },
        { "{{ [1, 'two', none, true, 1.5, {'k': 'v'}, (1,)] }} {{ {'a': [1]} }} {{ 'it\\'s' }} {{ [\"it's\"] }}", "[1, 'two', None, True, 1.5, {'k': 'v'}, (1,)] {'a': [1]} it's [\"it's\"]" },
        { "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 1e16 }} {{ 10 ** 15 * 1.0 }} {{ 1 / 3 }} {{ -0.0 }} {{ 2.5e-3 }}", "1.0 0.30000000000000004 1e-05 1e+16 1000000000000000.0 0.3333333333333333 -0.0 0.0025" },
        { "{{ 'a\\tb\\n' | tojson }} {{ '\\x41\\u00e9' }} {{ 'unknown \\d escape' }}", "\"a\\tb\\n\" Aé unknown \\d escape" },
        { "{{ - 2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ not 1 == 2 }} {{ 1 ~ 2 | string }}", "4 64 True 12" },
    };

    public static TheoryData<string, string> StringMethods => new()
    {
        { "{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  x '.lstrip() }}|{{ ' x  '.rstrip() }}|", "x|hi|x | x|" },
        { "{{ 'a,b,,c'.split(',') }} {{ '  a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }}", "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] ['a b', 'c']" },
        { "{{ 'hello'.startswith('he') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('lo') }}", "True True True" },
        { "{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ \"they're bill's\".title() }} {{ 'hELLO'.capitalize() }} {{ 'a-b'.replace('-', '_') }}", "HELLO hello They'Re Bill'S Hello a_b" },
        { "{{ 'abcabc'.find('c') }} {{ 'abc'.count('b') }} {{ ', '.join(['a', 'b']) }} {{ 'a\\nb\\r\\nc'.splitlines() }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }}", "2 1 a, b ['a', 'b', 'c'] True True" },
        { "{{ d.get('a') }} {{ d.get('zz', 'fallback') }} {{ d.get('zz') }} {{ d.keys() | list }} {{ d.items() | list | length }}", "1 fallback None ['a', 'b'] 2" },
    };

    public static TheoryData<string, string> Filters => new()
    {
        { "{{ '  x  ' | trim }}|{{ s | upper }} {{ s | lower }} {{ \"hello world-wide (x)\" | title }} {{ 'hELLO' | capitalize }}", "x|HELLO WORLD hello world Hello World-Wide (X) Hello" },
        { "{{ [1,2,3] | length }} {{ 'abc' | count }} {{ d | length }} {{ [3,1,2] | first }} {{ [3,1,2] | last }} {{ 'abc' | first }}", "3 3 2 3 2 a" },
        { "{{ [1,2,3] | join(', ') }} {{ ['a','b'] | join }} {{ [{'n':'x'},{'n':'y'}] | join(',', attribute='n') }}", "1, 2, 3 ab x,y" },
        { "{{ x | default('dflt') }} {{ none | default('dflt') }} {{ '' | default('dflt', true) }} {{ 'v' | d('dflt') }}", "dflt None dflt v" },
        { "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 42 | string }} {{ '42' | int + 1 }} {{ '4.7' | int }} {{ 'x' | int }} {{ '3' | float }} {{ 3 | float }}", "bbb bba 42 43 4 0 3.0 3.0" },
        { "{{ [3,1,2] | sort }} {{ ['b','A','a'] | sort }} {{ [3,1,2] | sort(reverse=true) }} {{ [1,2,1] | unique | list }} {{ ['a','A'] | unique | list }}", "[1, 2, 3] ['A', 'a', 'b'] [3, 2, 1] [1, 2] ['a']" },
        { "{{ [1,2] | reverse | list }} {{ 'abc' | reverse }} {{ 'abc' | list }} {{ d | list }} {{ d | items | list }} {{ [1,2,3] | sum }} {{ [1,5,2] | max }} {{ [4,2,6] | min }}", "[2, 1] cba ['a', 'b', 'c'] ['a', 'b'] [('a', 1), ('b', [1, 2.5, None, True, 'x'])] 6 5 2" },
        { "{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | list }} {{ [0,1,2,3] | select('odd') | list }} {{ [0,1,'',none,'a'] | select | list }} {{ [1,2] | reject('even') | list }}", "1 ['system'] [1, 3] [1, 'a'] [1]" },
        { "{{ messages | map(attribute='role') | join('/') }} {{ ['a','b'] | map('upper') | list }} {{ [{'a':1},{}] | map(attribute='a', default=0) | list }}", "system/user ['A', 'B'] [1, 0]" },
        { "{{ d | tojson }} {{ d | tojson(indent=2) }} {{ 'é\"<>' | tojson }} {{ [1,2] | tojson(separators=(',', ':')) }} {{ {'b':1,'a':2} | tojson(sort_keys=true) }} {{ 'é' | tojson(ensure_ascii=true) }}", "{\"a\": 1, \"b\": [1, 2.5, null, true, \"x\"]} {\n  \"a\": 1,\n  \"b\": [\n    1,\n    2.5,\n    null,\n    true,\n    \"x\"\n  ]\n} \"é\\\"<>\" [1,2] {\"a\": 2, \"b\": 1} \"\\u00e9\"" },
        { "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}", "a\n  b\n\n  c|  a\n  b|a\n  \n  b" },
        { "{{ 2.5 | round }} {{ 3.14159 | round(2) }} {{ 3 | round }} {{ -1.5 | abs }} {{ -3 | abs }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }}", "2.0 3.14 3 1.5 3 3.0 2.0" },
        { "{{ '<a href=\"x\">&\\'</a>' | e }} {{ '<b>' | safe }} {{ '%s-%d-%.2f' | format('a', 3, 1.5) }} {{ {'b': 1, 'A': 2} | dictsort }}", "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt; <b> a-3-1.50 [('A', 2), ('b', 1)]" },
    };

    public static TheoryData<string, string> Tests => new()
    {
        { "{{ x is defined }} {{ x is undefined }} {{ s is defined }} {{ n is none }} {{ n is not none }} {{ true is true }} {{ 0 is false }} {{ true is boolean }}", "False True True True False True False True" },
        { "{{ s is string }} {{ d is mapping }} {{ messages is iterable }} {{ s is iterable }} {{ 1 is iterable }} {{ d is sequence }} {{ 1 is number }} {{ 1.5 is float }} {{ true is integer }} {{ 1 is integer }}", "True True True True False True True True False True" },
        { "{{ 2 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }} {{ 1 is eq 1 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is ge 2 }} {{ 'b' is in 'abc' }} {{ 'abc' is lower }} {{ 'ABC' is upper }}", "True True True False True True True True True True True" },
        { "{{ x is undefined and true }} {{ not x is defined }} {{ (s|length) is gt 3 }} {{ none is sameas none }} {{ range is callable }} {{ 'upper' is filter }} {{ 'odd' is test }}", "True True True True True True True" },
    };

    public static TheoryData<string, string> Undefined => new()
    {
        { "[{{ x }}] [{{ x | trim }}] [{{ x | length }}] [{{ x | list }}] [{{ x ~ 'a' }}] [{{ x == x }}] [{{ not x }}] {% for i in x %}never{% endfor %}", "[] [] [0] [[]] [a] [True] [True] " },
        { "[{{ d.missing }}] [{{ d.missing is defined }}] [{{ d['missing'] | default('z') }}] [{{ messages[9] }}]", "[] [False] [z] []" },
    };

    public static TheoryData<string, string> RuntimeErrors => new()
    {
        { "{{ x.y }}", "UndefinedError: 'x' is undefined" },
        { "{{ x['y'] }}", "UndefinedError: 'x' is undefined" },
        { "{{ d.missing.deeper }}", "UndefinedError: 'dict object' has no attribute 'missing'" },
        { "{{ messages[9]['role'] }}", "UndefinedError: list object has no element 9" },
        { "{{ x + 1 }}", "UndefinedError: 'x' is undefined" },
        { "{{ x() }}", "UndefinedError: 'x' is undefined" },
        { "{{ 'a' + 1 }}", "TypeError: can only concatenate str (not \"int\") to str" },
        { "{{ 1 + 'a' }}", "TypeError: unsupported operand type(s) for +: 'int' and 'str'" },
        { "{{ 1 < 'a' }}", "TypeError: '<' not supported between instances of 'int' and 'str'" },
        { "{{ 1 / 0 }}", "ZeroDivisionError: division by zero" },
        { "{{ 1 // 0 }}", "ZeroDivisionError: integer division or modulo by zero" },
        { "{% for x in 5 %}{% endfor %}", "TypeError: 'int' object is not iterable" },
        { "{{ none | length }}", "TypeError: object of type 'NoneType' has no len()" },
        { "{{ x | tojson }}", "TypeError: Object of type Undefined is not JSON serializable" },
        { "{{ [].append(1) }}", "SecurityError: access to attribute 'append' of 'list' object is unsafe." },
        { "{{ 'abc'() }}", "TypeError: 'str' object is not callable" },
        { "{% set s.x = 1 %}", "TemplateRuntimeError: cannot assign attribute on non-namespace object" },
        { "{{ 1 in none }}", "TypeError: argument of type 'NoneType' is not iterable" },
        { "{{ 1 + 2 | string }}", "TypeError: unsupported operand type(s) for +: 'int' and 'str'" },
        { "{% for a, b in [[1]] %}{% endfor %}", "ValueError: not enough values to unpack (expected 2, got 1)" },
        { "{{ raise_exception('Only user and assistant roles are supported!') }}", "TemplateError: Only user and assistant roles are supported!" },
    };

    public static TheoryData<string, string> SyntaxErrors => new()
    {
        { "{% if %}{% endif %}", "TemplateSyntaxError: Expected an expression, got 'end of statement block' line 1" },
        { "{% for x in y %}", "TemplateSyntaxError: Unexpected end of template. Jinja was looking for the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'. line 1" },
        { "{% endfor %}", "TemplateSyntaxError: Encountered unknown tag 'endfor'. line 1" },
        { "{{ 'unterminated }}", "TemplateSyntaxError: unexpected char \"'\" at 3 line 1" },
        { "{% foo %}", "TemplateSyntaxError: Encountered unknown tag 'foo'. line 1" },
        { "{{ x | nosuchfilter }}", "TemplateAssertionError: No filter named 'nosuchfilter'. line 1" },
        { "{{ x is nosuchtest }}", "TemplateAssertionError: No test named 'nosuchtest'. line 1" },
        { "{% do x %}", "TemplateSyntaxError: Encountered unknown tag 'do'. line 1" },
        { "{{ }}", "TemplateSyntaxError: Expected an expression, got 'end of print statement' line 1" },
        { "{% if x %}\n\n{% else %}\n{% else %}{% endif %}", "TemplateSyntaxError: Encountered unknown tag 'else'. Jinja was looking for the following tags: 'endif'. The innermost block that needs to be closed is 'if'. line 4" },
        { "{{ 1 + }}", "TemplateSyntaxError: unexpected 'end of print statement' line 1" },
        { "{{ (1, }}", "TemplateSyntaxError: unexpected '}', expected ')' line 1" },
        { "{% break %}", "SyntaxError: 'break' outside loop (<template>, line 11)" },
        { "{# never closed", "TemplateSyntaxError: Missing end of comment tag line 1" },
        { "{{ a b }}", "TemplateSyntaxError: expected token 'end of print statement', got 'b' line 1" },
    };
}
