function(kp_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
    -Wimplicit-fallthrough)
  if(KP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
