// The web page served at /: chat with the model and watch the session's cache.
#pragma once
#include <string_view>

namespace ss::serve {

std::string_view page_html();

}  // namespace ss::serve
