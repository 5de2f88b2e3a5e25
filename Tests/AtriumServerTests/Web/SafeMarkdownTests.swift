import Testing

@testable import AtriumServer

@Suite struct SafeMarkdownTests {
    @Test func theSubsetBecomesTags() {
        let html = SafeMarkdown.html("""
            # New models
            We added **two** models and *faster* `embeddings`.

            - one
            - two
              continued
            1. first

            ```
            curl -H "x" <url>
            ```
            See [the docs](/docs/chat) or [OpenAI](https://platform.openai.com).
            """)
        #expect(html.contains("<h2>New models</h2>"))
        #expect(html.contains("<p>We added <strong>two</strong> models and <em>faster</em> <code>embeddings</code>.</p>"))
        #expect(html.contains("<ul><li>one</li><li>two continued</li></ul><ol><li>first</li></ol>"))
        #expect(html.contains("<pre class=\"code\" tabindex=\"0\"><code>curl -H &quot;x&quot; &lt;url&gt;</code></pre>"))
        #expect(html.contains("<a href=\"/docs/chat\">the docs</a>") && html.contains("<a href=\"https://platform.openai.com\">OpenAI</a>"))
    }

    @Test(arguments: [
        "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", "[x](//evil.example)",
        "[x](https://a.example\" onmouseover=\"alert(1))", "**<b>bold</b>**", "`<i>`", "# <h1>x</h1>",
    ])
    func nothingWrittenBecomesMarkup(_ markdown: String) {
        let html = SafeMarkdown.html(markdown)
        #expect(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>") && !html.contains("<i>") && !html.contains("<h1>"))
        #expect(!html.contains("href=\"javascript") && !html.contains("href=\"//") && !html.contains("onmouseover=\""))
    }

    @Test func theSummaryIsTheFirstParagraphAsText() {
        #expect(SafeMarkdown.summary("# Title\n\nHello **world**, `x`.\n\nMore.") == "Hello world, x.")
    }
}
