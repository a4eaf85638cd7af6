<?xml version="1.0" encoding="UTF-8"?>
<!-- Shows an RSS 2.0 or Atom 1.0 feed opened in a browser as a readable page. Feed readers ignore it. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
                exclude-result-prefixes="atom dc">
  <xsl:output method="html" encoding="UTF-8" indent="yes"/>
  <xsl:template match="/">
    <xsl:variable name="title" select="/rss/channel/title | /atom:feed/atom:title"/>
    <html>
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="referrer" content="no-referrer"/>
        <title><xsl:value-of select="$title"/> (feed)</title>
        <style>
          body { font: 16px/1.6 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Noto Sans CJK SC", sans-serif;
                 max-width: 52rem; margin: 0 auto; padding: 1.5rem 1rem 4rem; color: #111827; }
          .banner { background: #fff7ed; border: 1px solid #fed7aa; border-radius: .5rem; padding: .8rem 1rem; }
          .banner code { background: #ffedd5; padding: 0 .3rem; border-radius: .25rem; word-break: break-all; }
          h1 { font-size: 1.7rem; margin: 1.2rem 0 .25rem; } a { color: #c2410c; }
          li { margin: .6rem 0; } time, .muted { color: #6b7280; font-size: .9rem; }
        </style>
      </head>
      <body>
        <p class="banner">This is a <strong>web feed</strong>. Copy its address into your feed reader to subscribe:
          <code><xsl:value-of select="/rss/channel/atom:link[@rel='self']/@href | /atom:feed/atom:link[@rel='self']/@href"/></code></p>
        <h1><xsl:value-of select="$title"/></h1>
        <p class="muted"><xsl:value-of select="/rss/channel/description | /atom:feed/atom:subtitle"/> ·
          <a href="{/rss/channel/link | /atom:feed/atom:link[not(@rel) or @rel='alternate']/@href}">all feeds</a></p>
        <ol>
          <xsl:for-each select="/rss/channel/item">
            <li><a href="{link}"><xsl:value-of select="title"/></a><br/>
              <time><xsl:value-of select="pubDate"/></time>
              <xsl:for-each select="category"> · <span class="muted"><xsl:value-of select="."/></span></xsl:for-each></li>
          </xsl:for-each>
          <xsl:for-each select="/atom:feed/atom:entry">
            <li><a href="{atom:link[not(@rel) or @rel='alternate']/@href}"><xsl:value-of select="atom:title"/></a><br/>
              <time><xsl:value-of select="atom:published"/></time>
              <xsl:for-each select="atom:category"> · <span class="muted"><xsl:value-of select="@term"/></span></xsl:for-each></li>
          </xsl:for-each>
        </ol>
      </body>
    </html>
  </xsl:template>
</xsl:stylesheet>
