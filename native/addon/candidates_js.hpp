// JS ⇄ C++ conversion of candidate requests/outcomes (kept apart from the wrappers so
// model_wrap.cpp stays about lifetimes and queuing).
#pragma once

#include <napi.h>

#include <vector>

#include "runtime/candidate_cascade.hpp"

namespace p2sam::addon {

runtime::CandidateRequest read_candidate_request(const Napi::Object& o);
Napi::Value candidate_outcomes_to_js(Napi::Env env, std::vector<runtime::CandidateOutcome>& outcomes);

}  // namespace p2sam::addon
