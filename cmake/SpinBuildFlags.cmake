# One INTERFACE target that every spin target links: language standard,
# warnings and sanitizer flags live here and nowhere else.
add_library(spin_build_flags INTERFACE)
target_compile_features(spin_build_flags INTERFACE cxx_std_17)
target_compile_options(spin_build_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unused-parameter>
  $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra>)
set(CMAKE_CXX_EXTENSIONS OFF)

set(spin_sanitizers "")
if(SPIN_ENABLE_ASAN)
  list(APPEND spin_sanitizers address)
endif()
if(SPIN_ENABLE_UBSAN)
  list(APPEND spin_sanitizers undefined)
endif()
if(spin_sanitizers)
  list(JOIN spin_sanitizers "," spin_sanitizer_list)
  target_compile_options(spin_build_flags INTERFACE
    -fsanitize=${spin_sanitizer_list} -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  target_link_options(spin_build_flags INTERFACE
    -fsanitize=${spin_sanitizer_list})
endif()
