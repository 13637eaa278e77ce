#include "sluice/http/redact.hpp"

#include <gtest/gtest.h>

using sluice::http::redact_url;
using sluice::http::redact_userinfo;

TEST(Redact, UrlLosesItsUserinfoAndKeepsTheRest) {
  EXPECT_EQ(redact_url("https://me:secret@api.example.com:8443/a?b=c#d"), "https://api.example.com:8443/a?b=c#d");
  EXPECT_EQ(redact_url("https://api.example.com/x@y"), "https://api.example.com/x@y");  // '@' in the path stays
  EXPECT_EQ(redact_url("not a url"), "not a url");
}

TEST(Redact, EveryUrlInAMessageLosesItsUserinfo) {
  EXPECT_EQ(redact_userinfo("GET https://u:p@h/a failed; next was <http://x:tok@other:1/b>; rel=\"next\""),
            "GET https://h/a failed; next was <http://other:1/b>; rel=\"next\"");
  EXPECT_EQ(redact_userinfo("redirect to \"https://a@b@evil.example/\" refused"),
            "redirect to \"https://evil.example/\" refused");
  EXPECT_EQ(redact_userinfo("ends with https://user:pw@host"), "ends with https://host");
}

TEST(Redact, TextWithoutUserinfoIsUnchanged) {
  EXPECT_EQ(redact_userinfo(""), "");
  EXPECT_EQ(redact_userinfo("mail me@example.com about https://host/p@q"),
            "mail me@example.com about https://host/p@q");
  EXPECT_EQ(redact_userinfo("://@"), "://");
}

TEST(Redact, SecretLookingQueryValuesAreReplacedForTraces) {
  using sluice::http::redact_url_secrets;
  EXPECT_EQ(redact_url_secrets("https://u:p@h/a?page=2&access_token=abc&x=1#f"),
            "https://h/a?page=2&access_token=REDACTED&x=1#f");
  EXPECT_EQ(redact_url_secrets("https://h/a?API_KEY=k&Signature=s&client_secret=c"),
            "https://h/a?API_KEY=REDACTED&Signature=REDACTED&client_secret=REDACTED");
  EXPECT_EQ(redact_url_secrets("https://h/a?token"), "https://h/a?token");  // no value: nothing to hide
  EXPECT_EQ(redact_url_secrets("https://h/a"), "https://h/a");
  EXPECT_EQ(redact_url_secrets("https://h/a?q=token"), "https://h/a?q=token");  // only names decide
}
